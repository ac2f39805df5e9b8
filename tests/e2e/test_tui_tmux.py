"""A real terminal: `orps` (no command) in tmux on a temp project, driven by keys.

The model is a scripted `.py` file named in the project's orps.toml; candidates run in
the real sandbox. Start a search from the start screen, wait for the pass count and the
diff, accept, quit; the file changed and the screen never showed a traceback.
"""

from __future__ import annotations

import shutil

import pytest

from tests import tui_support as support
from tests.tmux_support import capture, keys, kill, search_add, start_orps, wait_gone, wait_screen

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


@pytest.fixture
def project(tmp_path):
    return support.scripted_project(tmp_path)


def test_orps_in_tmux_search_accept_quit(project):
    session = start_orps(project)
    try:
        wait_screen(session, "1/2 pass now")  # the highlighted function was checked
        screen = search_add(session)  # the review, with the diff
        assert "2/2" in screen and "+    return a + b" in screen
        keys(session, "a")
        wait_screen(session, "patch to calc.py?")
        keys(session, "y")
        wait_screen(session, "+1 -1 lines")
        keys(session, "Enter")
        keys(session, "q")
        wait_gone(session, "orps ·")  # the app quit and gave the terminal back
        screen = capture(session)
        assert "Traceback" not in screen and "internal error" not in screen
    finally:
        kill(session)
    assert "return a + b" in (project / "calc.py").read_text()
