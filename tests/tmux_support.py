"""Helpers for the tests of `orps` in a real terminal (no tests here): a tmux pane running
the app, keys sent to it, and waits for what the screen shows instead of fixed sleeps.

Each wait returns as soon as the screen shows what it waits for and fails, with the screen,
after a generous timeout; a traceback on the screen fails it at once.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.support import ROOT

WIDTH, HEIGHT = 120, 36


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def start_orps(project: Path, args: str = "", *, env: dict[str, str] | None = None, then: str = "sleep 60") -> str:
    """`orps ARGS` in a new detached tmux session in `project` (with `env` added); the shell
    runs `then` after it, so the pane (and what orps left on it) stays. Returns the session."""
    session = f"orps-test-{uuid.uuid4().hex[:8]}"
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in (env or {}).items())
    command = f"cd {project} && {assignments} PYTHONPATH={ROOT} {sys.executable} -m orps_tui.cli {args}; {then}"
    tmux("new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), command)
    return session


def kill(session: str) -> None:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def keys(session: str, *names: str) -> None:
    """Press keys by name (`Enter`, `C-q`, `s`)."""
    tmux("send-keys", "-t", session, *names)


def typed(session: str, text: str) -> None:
    """Type `text` literally."""
    tmux("send-keys", "-t", session, "-l", text)


def capture(session: str, *, history: bool = False) -> str:
    """The pane's text now (with `history`, the 200 lines scrolled off above it too)."""
    return tmux("capture-pane", "-p", *(["-S", "-200"] if history else []), "-t", session)


def wait_screen(session: str, needle: str, timeout: float = 60.0, *, history: bool = False) -> str:
    """Wait until the pane shows `needle`; return the screen."""
    return _wait(session, lambda screen: needle in screen, f"{needle!r} never appeared", timeout, history)


def wait_gone(session: str, needle: str, timeout: float = 60.0) -> str:
    """Wait until the pane no longer shows `needle`; return the screen."""
    return _wait(session, lambda screen: needle not in screen, f"{needle!r} stayed on screen", timeout, False)


def wait_footer(session: str, holds: Callable[[str], bool], timeout: float = 60.0) -> str:
    """Wait until the pane's last line (the app's footer of keys) satisfies `holds`."""

    def footer(screen: str) -> str:
        lines = screen.rstrip().splitlines()
        return lines[-1] if lines else ""

    return _wait(session, lambda screen: holds(footer(screen)), "the footer never changed", timeout, False)


def _wait(session: str, done: Callable[[str], bool], failure: str, timeout: float, history: bool) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = capture(session, history=history)
        assert "Traceback" not in screen, screen
        if done(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{failure}; the screen:\n{screen}")
        time.sleep(0.1)


def search_add(session: str) -> str:
    """On `tui_support`'s calc project, from the start screen: filter the list to `add`,
    start its search and wait for the review's diff; return the screen."""
    start_add_search(session)
    wait_screen(session, "searching calc.py::add")
    return wait_screen(session, "+++ b/calc.py", timeout=120)


def start_add_search(session: str) -> None:
    """On `tui_support`'s calc project, from the start screen: filter the list to `add` and
    press s (the search starts; nothing is waited for after the key)."""
    wait_screen(session, "calc.py::mul")
    # Each key waits for the focus change of the one before: Textual hands a key to the
    # widget focused when it arrives, so keys typed ahead of a focus change go elsewhere.
    keys(session, "/")
    wait_footer(session, lambda footer: "s Start" not in footer)  # in the filter: s is typed, not a key
    typed(session, "cadd")
    wait_screen(session, "cadd ")
    keys(session, "Enter")  # back to the list
    wait_footer(session, lambda footer: "s Start" in footer)
    keys(session, "s")
