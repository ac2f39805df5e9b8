"""Quitting at any moment ends cleanly: `orps` in a real terminal (tmux) is quit while it
loads, on the start screen, mid-search, in the review, in the editor, right after saving an
edit (its re-check running in the sandbox) and right after an apply, each after a random
delay. Every quit exits 0, prints no traceback, and leaves no process behind (the warm
worker, sandboxes, the app itself: found by an environment tag they all inherit)."""

from __future__ import annotations

import os
import random
import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests import tui_support as support
from tests.tmux_support import capture, keys, kill, start_add_search, start_orps, wait_screen

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]
MOMENTS = ["loading", "start", "search", "review", "editor", "after-edit", "after-edit", "after-apply", "after-apply"]


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


def send(session: str, *names: str, pause: float = 0.3) -> None:
    keys(session, *names)
    time.sleep(pause)


def go_to(session: str, moment: str, delay: float) -> None:
    """Drive the app to `moment`, then wait `delay` seconds."""
    if moment != "loading":
        wait_screen(session, "calc.py::mul", history=True)
    if moment in ("search", "review", "editor", "after-edit", "after-apply"):
        start_add_search(session)  # each key after the focus change of the one before
    if moment in ("review", "editor", "after-edit", "after-apply"):
        wait_screen(session, "+++ b/calc.py", history=True)
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
    project = support.scripted_project(tmp_path)
    tag = uuid.uuid4().hex
    done = tmp_path / "exit-status"
    session = start_orps(project, env={"ORPS_QUIT_TAG": tag}, then=f"echo $? > {done}; sleep 60")
    try:
        go_to(session, moment, delay)
        # q; in the editor q is a letter typed: ctrl+q. (Not ctrl+q while loading: a ^Q typed
        # before the app puts the terminal in raw mode is the terminal's XON, never read.)
        send(session, "C-q" if moment == "editor" else "q", pause=0)
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # what a late clean-up thread would print, it prints by now
        shown = capture(session, history=True)
        assert done.exists(), f"no exit 30 s after quitting ({moment}, {delay} s):\n{shown}"
        assert done.read_text().strip() == "0", shown
        assert "Traceback" not in shown and "Exception" not in shown, f"{moment}, {delay} s:\n{shown}"
        assert tagged_processes(tag) == [], f"{moment}, {delay} s"
    finally:
        kill(session)
