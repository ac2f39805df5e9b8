"""Stop means stop: Ctrl+C ends a search within a second, keeps the run, and leaves nothing behind.

The model here is a scripted one that stays busy until cancelled (an async script that
sleeps), so any wait for it to finish would show as a slow exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import cli_env, wait_until
from tests.test_solve_project import SAMPLE, WORDS

pytestmark = pytest.mark.slow
STOP_WITHIN_S = 3.0  # 1 s on an idle machine; the shared test machine is loaded

BUSY_SCRIPT = '''
import asyncio
from pathlib import Path

async def respond(messages, params):
    Path(__file__).with_name("called").touch()  # tells the test a model call is in flight
    await asyncio.sleep(600)  # a model that never answers unless cancelled
    return "never"
'''


def wait_for_a_model_call(script_dir: Path) -> None:
    wait_until((script_dir / "called").exists, 120, "a model call")


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "proj"
    shutil.copytree(SAMPLE, dest)
    (tmp_path / "busy.py").write_text(BUSY_SCRIPT)
    return dest


def start_solve(project: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orps_tui.cli", "solve", "--project", str(project), "--target", f"{WORDS}::slugify",
         "--model", f"scripted/{project.parent / 'busy.py'}", "--headless", "--no-cache", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=project)


def processes_of(project: Path) -> list[str]:
    """Command lines of live processes that mention the project (the run's sandbox, pytest, ...)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(project) in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def test_ctrl_c_stops_a_busy_headless_solve_at_once_and_the_run_resumes(project):
    proc = start_solve(project)
    wait_for_a_model_call(project.parent)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert took < STOP_WITHIN_S, f"exit took {took:.2f}s"
    assert "Traceback" not in err
    # killpg does not wait for the group to die: each process must be gone soon after
    wait_until(lambda: processes_of(project) == [], STOP_WITHIN_S, f"the run's processes ending ({processes_of(project)})")

    runs = subprocess.run([sys.executable, "-m", "orps_tui.cli", "runs", "--project", str(project), "--json"],
                          capture_output=True, text=True, env=cli_env())
    listed = json.loads(runs.stdout)["runs"]
    assert listed and listed[0]["status"] == "interrupted"


def test_a_second_ctrl_c_exits_immediately_with_130(project):
    proc = start_solve(project)
    wait_for_a_model_call(project.parent)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert time.monotonic() - sent < STOP_WITHIN_S


async def test_a_cancelled_busy_call_is_not_counted():
    from search.gateway import Gateway
    from search.providers.scripted import register_script

    entered = asyncio.Event()

    async def busy(messages, params):
        entered.set()
        await asyncio.sleep(600)

    register_script("busy-forever", busy)
    gateway = Gateway()
    call = asyncio.create_task(gateway.complete("scripted/busy-forever", [{"role": "user", "content": "hi"}]))
    await asyncio.wait_for(entered.wait(), 10)  # the call is in the model
    started = time.monotonic()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert time.monotonic() - started < 0.5
    assert gateway.usage.calls == 0 and gateway.usage.errors == 0 and gateway.calls_left() is None


def test_ctrl_c_stops_a_busy_bench_and_keeps_it_resumable(datasets, tmp_path):
    (tmp_path / "busy.py").write_text(BUSY_SCRIPT)
    dataset = datasets / "mbpp_v2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orps_tui.cli", "bench", "--dataset", str(dataset), "--limit", "2",
         "--model", f"scripted/{tmp_path / 'busy.py'}", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path)
    wait_for_a_model_call(tmp_path)  # past the reference check, into the (busy) model calls
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert took < STOP_WITHIN_S, f"exit took {took:.2f}s"
    assert "--resume" in err and "Traceback" not in err
