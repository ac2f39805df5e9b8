"""`orps solve` when the embedded model's process dies mid-run: one line naming the signal,
exit code 4 (not a wait for the dead child), no traceback, the run kept, and `--resume`
finishing it. The model is the scripted child (tests/fake_model_worker.py) behind the real
supervision; the same with the real model is in tests/e2e/test_model_crash_real.py (slow)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orps_tui.commands.demo import EXAMPLE, TARGET
from orps_tui.errors import EXIT_MODEL_CRASHED
from tests.support import Lines, alive, cli_env, wait_until

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("llama_cpp") is None, reason="local/ models need the local extra installed"
)

WITH_FAKE_MODEL = (
    "import tests.fake_model_worker as fake; fake.use_in_this_process(); from orps_tui.cli import main; main()"
)


def orps(*args: str) -> list[str]:
    """`orps ARGS` in a subprocess whose embedded model is the scripted child."""
    return [sys.executable, "-c", WITH_FAKE_MODEL, *args]


def model_children(pid: int, marker: str = "fake_model_worker") -> list[int]:
    """Live children of `pid` whose command line holds `marker`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and marker.encode() in cmd and alive(int(entry)):
            found.append(int(entry))
    return found


def runs_of(project: Path, env: dict) -> list[dict]:
    listed = subprocess.run(
        [sys.executable, "-m", "orps_tui.cli", "runs", "--project", str(project), "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(listed.stdout)["runs"]


@pytest.fixture
def demo(tmp_path):
    project = tmp_path / "demo"
    shutil.copytree(EXAMPLE, project)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")  # a stand-in: the scripted child never reads it
    return project, model


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT])
def test_a_model_crash_mid_solve_ends_orps_with_one_line_and_resume_finishes(demo, sig):
    project, model = demo
    solve = ["solve", "--project", str(project), "--headless", "--no-cache"]
    slow = cli_env(FAKE_MODEL_TOKENS="100000", FAKE_MODEL_TOKEN_S="0.01")  # generates until killed
    proc = subprocess.Popen(
        orps(*solve, "--target", TARGET, "--model", f"local/{model}", "--samples", "2", "--beam", "1", "--rounds", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=slow,
        cwd=project,
    )
    err, out = Lines(proc.stderr), Lines(proc.stdout)
    err.wait_for("plan:", 120)
    [child] = wait_until(lambda: model_children(proc.pid), 60, "the model's child process")
    time.sleep(0.5)  # well into a generation
    os.kill(child, sig)
    code = proc.wait(timeout=60)  # the other generation would run on for 1000 s: the crash ended orps
    stderr = err.rest()
    assert code == EXIT_MODEL_CRASHED, stderr
    assert f"orps: the embedded model crashed ({sig.name} in llama.cpp)\n" in stderr
    assert (
        "hint: `orps doctor` shows the CPU features and the llama.cpp build; the run is kept: "
        "continue it with `orps solve --resume" in stderr
    )
    assert "Traceback" not in stderr and "Traceback" not in out.rest()

    [run] = runs_of(project, slow)
    assert run["status"] == "error"
    assert (project / ".orps" / "runs" / run["id"] / "tree.json").is_file()
    resumed = subprocess.run(
        orps(*solve, "--resume", run["id"], "--quiet"),
        capture_output=True,
        text=True,
        env=cli_env(FAKE_MODEL_TOKEN_S="0.001"),
        cwd=project,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr  # the scripted model writes the fix
    assert f"run {run['id']}: solved" in resumed.stdout
    [again] = runs_of(project, slow)
    assert again["id"] == run["id"] and again["status"] == "finished"


async def test_the_tui_shows_a_model_crash_in_place_and_stays_usable(tmp_path, monkeypatch):
    from orps_tui.app import make_app
    from orps_tui.screens.dialogs import MessageScreen
    from orps_tui.screens.search import SearchScreen
    from search.providers import model_process
    from tests.tui_support import TARGET as CALC_TARGET
    from tests.tui_support import ProjectFake, make_project, screen_text, settings, wait_for

    monkeypatch.setattr(model_process, "WORKER_MODULE", "tests.fake_model_worker")
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "100000")
    model_process.close_all()
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    app = make_app(
        make_project(tmp_path),
        target=CALC_TARGET,
        settings=settings(model=f"local/{model}"),
        evaluator=ProjectFake(),
        headless_start=True,
    )
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: any(p.busy for p in model_process._processes.values()), 60)
            [child] = model_process._processes.values()
            os.kill(child.pid, signal.SIGSEGV)
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            await wait_for(pilot, lambda: "SIGSEGV in llama.cpp" in screen_text(app))
            shown = screen_text(app)
            assert "the embedded model crashed (SIGSEGV in llama.cpp)" in shown and "orps doctor" in shown
            assert "Traceback" not in shown
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
            assert app.screen.state == "error"  # the search screen, in place, with what it found
            await pilot.press("q")
            await pilot.pause()
    finally:
        model_process.close_all()
    assert app.exit_status == EXIT_MODEL_CRASHED
