"""Stop means stop: Ctrl+C ends a search without waiting for the model, keeps the run, and leaves nothing behind.

The model here is a scripted one that stays busy until cancelled (an async script that
sleeps 600 s), so a command that waited for it would still be running when the test gives up.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_solve_project import SAMPLE, WORDS
from tests.support import Lines, alive, cli_env, processes_of, sandboxes_under, wait_until

pytestmark = pytest.mark.slow
STOP_WITHIN_S = 30.0  # how long a wait for an exit or a process ending may take before it fails; the model takes 600 s

BUSY_SCRIPT = """
import asyncio
from pathlib import Path

async def respond(messages, params):
    Path(__file__).with_name("called").touch()  # tells the test a model call is in flight
    await asyncio.sleep(600)  # a model that never answers unless cancelled
    return "never"
"""


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
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "solve",
            "--project",
            str(project),
            "--target",
            f"{WORDS}::slugify",
            "--model",
            f"scripted/{project.parent / 'busy.py'}",
            "--headless",
            "--no-cache",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=project,
    )


def test_ctrl_c_stops_a_busy_headless_solve_at_once_and_the_run_resumes(project):
    proc = start_solve(project)
    wait_for_a_model_call(project.parent)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)  # far less than the model's 600 s: it was not waited for
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    # killpg does not wait for the group to die: each process must be gone soon after
    wait_until(
        lambda: processes_of(project) == [], STOP_WITHIN_S, f"the run's processes ending ({processes_of(project)})"
    )

    runs = subprocess.run(
        [sys.executable, "-m", "orps_tui.cli", "runs", "--project", str(project), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    listed = json.loads(runs.stdout)["runs"]
    assert listed and listed[0]["status"] == "interrupted"


def test_ctrl_c_stops_a_solve_whose_stderr_reader_is_gone(project):
    """`orps solve ... 2>&1 | head -1`: the reader has left, so the "stopping" line cannot be
    written; the stop still happens, with exit code 130 (the search does not run on to exit 0)."""
    proc = start_solve(project)
    wait_for_a_model_call(project.parent)
    proc.stderr.close()  # the reader goes away
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "still searching 30 s after Ctrl+C"
    assert code == 130


def test_a_second_ctrl_c_exits_immediately_with_130(project):
    proc = start_solve(project)
    wait_for_a_model_call(project.parent)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)  # far less than the model's 600 s
    assert proc.returncode == 130


async def test_a_cancelled_busy_call_is_not_counted():
    from search.gateway import Gateway
    from search.providers.scripted import register_script

    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def busy(messages, params):
        entered.set()
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    register_script("busy-forever", busy)
    gateway = Gateway()
    call = asyncio.create_task(gateway.complete("scripted/busy-forever", [{"role": "user", "content": "hi"}]))
    await asyncio.wait_for(entered.wait(), 10)  # the call is in the model
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 60)  # a call left running would take 600 s and time out here
    assert cancelled.is_set()  # the cancel reached the model's call
    assert gateway.usage.calls == 0 and gateway.usage.errors == 0 and gateway.calls_left() is None


def test_ctrl_c_stops_a_busy_bench_and_keeps_it_resumable(datasets, tmp_path):
    (tmp_path / "busy.py").write_text(BUSY_SCRIPT)
    dataset = datasets / "mbpp_v2"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "bench",
            "--dataset",
            str(dataset),
            "--limit",
            "2",
            "--model",
            f"scripted/{tmp_path / 'busy.py'}",
            "--out",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
    )
    wait_for_a_model_call(tmp_path)  # past the reference check, into the (busy) model calls
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)  # far less than the model's 600 s
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err


def start_watch(project: Path, *args: str) -> tuple[subprocess.Popen, Lines, Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "orps_tui.cli", "watch", "--project", str(project), "--debounce", "0.2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=project,
    )
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def stop_watch(proc: subprocess.Popen, out: Lines, err: Lines, project: Path) -> str:
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)  # far less than the model's (or the test's) 600 s
    text = err.rest()
    assert code == 0, text
    assert "stopped watching" in text and "Traceback" not in text + out.rest()
    wait_until(
        lambda: processes_of(project) == [], STOP_WITHIN_S, f"the run's processes ending ({processes_of(project)})"
    )
    return out.text


def test_ctrl_c_stops_watch_with_a_marker_search_running_and_keeps_the_runs(project):
    proc, out, err = start_watch(project, "--model", f"scripted/{project.parent / 'busy.py'}", "--no-cache")
    err.wait_for("Ctrl+C to stop", 120)
    words = project / WORDS
    words.write_text(words.read_text().replace("def slugify(", "# orps: handle punctuation\ndef slugify(", 1))
    out.wait_for("-> searching", 120)
    wait_for_a_model_call(project.parent)
    text = stop_watch(proc, out, err, project)
    assert "slugify: search cancelled (run " in text
    run_id = text.split("slugify: search cancelled (run ")[1].split()[0]
    runs = subprocess.run(
        [sys.executable, "-m", "orps_tui.cli", "runs", "--project", str(project), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    assert [(r["id"], r["status"]) for r in json.loads(runs.stdout)["runs"]] == [(run_id, "interrupted")]


SLOW_TEST = """

def test_takes_its_time():
    import time
    time.sleep(600)
"""


def test_ctrl_c_stops_watch_on_a_target_while_its_tests_run(project):
    proc, out, err = start_watch(project, "--target", f"{WORDS}::slugify")
    err.wait_for("Ctrl+C to stop", 120)
    tests = project / "tests" / "test_words.py"
    tests.write_text(tests.read_text() + SLOW_TEST.replace("():", "():\n    slugify  # uses the target: selected"))
    out.wait_for("changed:", 60)
    running = wait_until(lambda: sandboxes_under(proc.pid), 60, "the check's sandbox starting")
    stop_watch(proc, out, err, project)
    wait_until(lambda: not any(alive(pid) for pid in running), STOP_WITHIN_S, "the check's sandbox ending")


def test_ctrl_c_stops_a_busy_bench_on_ray_and_keeps_it_resumable(datasets, tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "busy.py").write_text(BUSY_SCRIPT)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "bench",
            "--dataset",
            str(datasets / "mbpp_v2"),
            "--limit",
            "2",
            "--model",
            f"scripted/{tmp_path / 'busy.py'}",
            "--out",
            str(tmp_path / "out"),
            "--ray",
            "local",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
    )
    wait_until((tmp_path / "called").exists, 300, "a model call on a Ray worker")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)  # the local cluster is shut down first; the model takes 600 s
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    # the cancelled problems' Ray workers are gone with the cluster
    wait_until(lambda: processes_of(tmp_path) == [], STOP_WITHIN_S, f"the Ray tasks ending ({processes_of(tmp_path)})")
