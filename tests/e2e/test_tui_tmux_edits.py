"""A real terminal (tmux): the edits kept across two runs of the app, a def line edit
refused with its reason, a round of the search tree folded and unfolded, and a scripted
model that does not exist refused at once. Every step waits for what the key shows.

The code is edited through `E` ($EDITOR: a script applying the edit the test chose), the
same re-check and keeping as the editor pane (whose typing the Pilot tests cover): in a
terminal, a key bound to an action (an arrow, End, ctrl+e) is handled after plain
characters sent right behind it, so typed edits would depend on the machine's pace."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from orps_tui.edits import kept_edits
from search.store import list_runs
from tests import tui_support as support
from tests.tmux_support import keys, kill, search_add, start_orps, wait_footer, wait_gone, wait_screen

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


@pytest.fixture
def project(tmp_path):
    return support.scripted_project(tmp_path)


def start(project, args: str = "") -> str:
    editor = project.parent / "editor.py"  # $EDITOR: applies the replacement in edit.json to the file
    editor.write_text(
        "import json, pathlib, sys\n"
        "old, new = json.loads(pathlib.Path(__file__).with_name('edit.json').read_text())\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "path.write_text(path.read_text().replace(old, new, 1))\n"
    )
    return start_orps(project, args, env={"VISUAL": f"{sys.executable} {editor}"}, then="echo exit=$?; sleep 60")


def edit_with(session: str, project, old: str, new: str) -> None:
    """`E` on the shown node: $EDITOR replaces `old` by `new` in its code."""
    (project.parent / "edit.json").write_text(json.dumps([old, new]))
    # only once the review is the screen in front: the search screen also shows the diff, and
    # an E sent to it while it is closing is lost
    wait_footer(session, lambda footer: "a Accept" in footer)
    keys(session, "E")


def quit_app(session: str) -> str:
    keys(session, "q")
    screen = wait_screen(session, "exit=")
    assert "exit=0" in screen and "Traceback" not in screen, screen
    return screen


def test_an_unknown_scripted_model_is_refused_at_once(project):
    session = start(project, "solve --target calc.py::add --model scripted/nonexistent --headless")
    try:
        screen = wait_screen(session, "exit=")
    finally:
        kill(session)
    assert "exit=3" in screen and "unknown model 'scripted/nonexistent'" in screen, screen
    assert "tests selected" not in screen and "Traceback" not in screen  # refused before any work


def test_edits_kept_across_runs_of_the_app_and_a_round_folded(project):
    session = start(project)
    try:
        search_add(session)
        # the search tree: fold the round of the last row (a leaf: never kept), then unfold it
        keys(session, "s")
        wait_screen(session, "Fold round")
        keys(session, "G", "f")  # the last node
        wait_screen(session, "▸ round")
        keys(session, "f")
        wait_gone(session, "▸ round")
        keys(session, "v")  # back to the review
        wait_footer(session, lambda footer: "a Accept" in footer)

        # a def line change that would not reach the file: refused, with the reason
        edit_with(session, project, "def add(a, b):", "def add(a, b: int):")
        screen = wait_screen(session, "Not kept:")  # short: the notification wraps on a narrow window
        assert "Traceback" not in screen

        edit_with(session, project, "    return a + b", "    a = a + 0\n    return a + b")
        wait_screen(session, "✎ edit-1")
        quit_app(session)
    finally:
        kill(session)
    first_run = list_runs(project)[0]

    session = start(project)  # the app again, later
    try:
        wait_screen(session, "✎calc.py::add")  # the function list marks it as edited
        screen = search_add(session)
        screen = wait_screen(session, "✎ edit-1")  # the earlier edit is listed in the new review
        edit_with(session, project, "    return a + b", "    b = b - 0\n    return a + b")
        wait_screen(session, "✎ edit-2")  # a new number: the earlier edit is not replaced
        quit_app(session)
    finally:
        kill(session)

    kept = {node.id: node.code for node in kept_edits(project, support.TARGET)}
    assert set(kept) == {"edit-1", "edit-2"}
    assert "a = a + 0" in kept["edit-1"] and "b = b - 0" in kept["edit-2"]
    tree = json.loads(first_run.file("tree.json").read_text())
    assert [n["code"] for n in tree["nodes"] if n["id"] == "edit-1"] == [kept["edit-1"]]
    assert (project / "calc.py").read_text() == support.CALC  # nothing applied
