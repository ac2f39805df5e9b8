"""Quitting at any moment ends cleanly: `orps` in a real terminal (tmux) is quit while it
loads, on the start screen, mid-search, in the review, in the editor, right after saving an
edit (its re-check running in the sandbox) and right after an apply, each after a random
delay. Every quit exits 0, prints no traceback, and leaves no process behind (the warm
worker, sandboxes, the app itself: found by an environment tag they all inherit)."""

from __future__ import annotations

import inspect
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests import tui_support as support

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]
ROOT = Path(__file__).resolve().parents[2]
MOMENTS = ["loading", "start", "search", "review", "editor", "after-edit", "after-edit", "after-apply",
           "after-apply"]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-S", "-200", "-t", session)


def wait_screen(session: str, needle: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in (shown := screen(session)):
        assert "Traceback" not in shown, shown
        assert time.monotonic() < deadline, f"{needle!r} never appeared:\n{shown}"
        time.sleep(0.1)


def tagged_processes(tag: str) -> list[str]:
    """Processes whose environment holds `tag` (everything the app started inherits it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if tag.encode() in env and not cmd.startswith(b"sleep"):
            found.append(cmd.replace(b"\0", b" ").decode(errors="replace"))
    return found


def make_project(tmp_path: Path) -> Path:
    project = support.make_project(tmp_path)
    script = tmp_path / "model_script.py"
    script.write_text("\n".join([f"WRONG = {support.WRONG!r}", f"RIGHT = {support.RIGHT!r}", "",
                                 inspect.getsource(support.respond)]))
    (project / "orps.toml").write_text(
        f'model = "scripted/{script}"\nsamples = 2\nbeam = 1\nrounds = 2\ncache = false\n')
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return project


def send(session: str, *keys: str, pause: float = 0.3) -> None:
    tmux("send-keys", "-t", session, *keys)
    time.sleep(pause)


def go_to(session: str, moment: str, delay: float) -> None:
    """Drive the app to `moment`, then wait `delay` seconds."""
    if moment != "loading":
        wait_screen(session, "calc.py::mul")
    if moment in ("search", "review", "editor", "after-edit", "after-apply"):
        for keys in (["/"], ["-l", "cadd"], ["Enter"], ["s"]):
            send(session, *keys)
    if moment in ("review", "editor", "after-edit", "after-apply"):
        wait_screen(session, "+++ b/calc.py")
    if moment in ("editor", "after-edit"):
        send(session, "e", pause=0.6)
        send(session, "End")
        send(session, "-l", "  # mine")
        if moment == "after-edit":
            send(session, "C-s", pause=0)
    if moment == "after-apply":
        send(session, "a")
        send(session, "y", pause=0)
    time.sleep(delay)


@pytest.mark.parametrize("moment", MOMENTS)
def test_quit_at_any_moment(tmp_path, moment):
    delay = round(random.Random(f"{moment}-{os.getpid()}").uniform(0.0, 1.5), 2)
    project = make_project(tmp_path)
    session, tag = f"orps-quit-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    done = tmp_path / "exit-status"
    command = (f"cd {project} && ORPS_QUIT_TAG={tag} PYTHONPATH={ROOT} {sys.executable} -m orps_tui.cli; "
               f"echo $? > {done}; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    try:
        go_to(session, moment, delay)
        # q; in the editor q is a letter typed: ctrl+q. (Not ctrl+q while loading: a ^Q typed
        # before the app puts the terminal in raw mode is the terminal's XON, never read.)
        send(session, "C-q" if moment == "editor" else "q", pause=0)
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # what a late clean-up thread would print, it prints by now
        shown = screen(session)
        assert done.exists(), f"no exit 30 s after quitting ({moment}, {delay} s):\n{shown}"
        assert done.read_text().strip() == "0", shown
        assert "Traceback" not in shown and "Exception" not in shown, f"{moment}, {delay} s:\n{shown}"
        assert tagged_processes(tag) == [], f"{moment}, {delay} s"
    finally:
        tmux("kill-session", "-t", session)
