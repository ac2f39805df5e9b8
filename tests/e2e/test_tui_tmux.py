"""A real terminal: `orps` (no command) in tmux on a temp project, driven by keys.

The model is a scripted `.py` file named in the project's orps.toml; candidates run in
the real sandbox. Start a search from the start screen, wait for the pass count and the
diff, accept, quit; the file changed and the screen never showed a traceback.
"""

from __future__ import annotations

import inspect
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


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_screen(session: str, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-t", session)
        if needle in screen or "Traceback" in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never appeared; the screen:\n{screen}")
        time.sleep(0.2)


@pytest.fixture
def project(tmp_path):
    project = support.make_project(tmp_path)
    script = tmp_path / "model_script.py"
    script.write_text("\n".join([f"WRONG = {support.WRONG!r}", f"RIGHT = {support.RIGHT!r}", "",
                                 inspect.getsource(support.respond)]))
    (project / "orps.toml").write_text(
        f'model = "scripted/{script}"\nsamples = 2\nbeam = 1\nrounds = 2\ncache = false\n')
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return project


def test_orps_in_tmux_search_accept_quit(project):
    session = f"orps-test-{uuid.uuid4().hex[:8]}"
    command = f"cd {project} && PYTHONPATH={ROOT} {sys.executable} -m orps_tui.cli; sleep 30"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    try:
        wait_screen(session, "calc.py::mul")
        screen = wait_screen(session, "1/2 pass now")  # the highlighted function was checked
        for keys in (["/"], ["-l", "cadd"], ["Enter"], ["s"]):  # filter, to the list, start
            tmux("send-keys", "-t", session, *keys)
            time.sleep(0.7)  # a real user's pace: each key is handled before the next
        screen = wait_screen(session, "+++ b/calc.py")  # the review, with the diff
        assert "2/2" in screen and "+    return a + b" in screen and "Traceback" not in screen
        tmux("send-keys", "-t", session, "a")
        wait_screen(session, "patch to calc.py?")
        tmux("send-keys", "-t", session, "y")
        screen = wait_screen(session, "+1 -1 lines")
        tmux("send-keys", "-t", session, "Enter")
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 20
        while "orps ·" in tmux("capture-pane", "-p", "-t", session) and time.monotonic() < deadline:
            time.sleep(0.2)
        screen = tmux("capture-pane", "-p", "-t", session)
        assert "orps ·" not in screen, screen  # the app quit and gave the terminal back
        assert "Traceback" not in screen and "internal error" not in screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "return a + b" in (project / "calc.py").read_text()
