"""The in-TUI editor (`e` on the review screen): a TextArea with Python highlighting; saving
re-checks the code and adds a user-edited node to the tree (Pilot, in-process evaluator)."""

from __future__ import annotations

import json

import pytest
from textual.widgets import TextArea

from orps_tui.app import make_app
from orps_tui.screens.editor import EditorScreen
from orps_tui.screens.review import ReviewScreen
from search.store import list_runs
from tests.tui_support import CALC, TARGET, ProjectFake, make_project, screen_text, settings, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


async def open_editor(pilot) -> TextArea:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.pause()
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EditorScreen))
    return pilot.app.screen.query_one(TextArea)


async def test_edit_save_rechecks_and_adds_a_user_node(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        area = await open_editor(pilot)
        review = app.screen_stack[-2]
        assert area.language == "python" and "python" in area.available_languages
        assert area._highlights, "tree-sitter highlighting did not run"
        assert "return a + b" in area.text
        row, line = next((i, text) for i, text in enumerate(area.text.splitlines()) if "return a + b" in text)
        area.move_cursor((row, len(line)))
        await pilot.press("space", "plus", "space", "0")  # typed as a user would
        assert "return a + b + 0" in area.text
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and review.selected.id == "edit-1")
        node = review.selected
        assert node.style == "edited by you" and node.all_passed and node.parent == review.best.id
        assert "return a + b + 0" in screen_text(app)  # its diff is shown
        assert any("Your edit: passed, 2/2" in n.message for n in app._notifications)
    tree = json.loads(list_runs(project)[0].file("tree.json").read_text())
    assert "edit-1" in [n["id"] for n in tree["nodes"]]
    assert (project / "calc.py").read_text() == CALC  # editing never touches the project


async def test_escape_leaves_the_editor_without_a_node(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        area = await open_editor(pilot)
        review = app.screen_stack[-2]
        area.insert("# scratch\n", (0, 0))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.pause()
        assert review.edits == 0 and review.search_tree.get("edit-1") is None


async def test_a_syntax_error_is_named_with_its_line_and_not_saved(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        area = await open_editor(pilot)
        review = app.screen_stack[-2]
        area.text = "def add(a, b):\n    x = (a +\n    return a + b\n"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Syntax error at line 2" in screen_text(app))
        assert isinstance(app.screen, EditorScreen) and area.cursor_location[0] == 1
        assert review.edits == 0
        area.text = "def add(a, b):\n    return (a + b)\n"
        await wait_for(pilot, lambda: "Syntax error" not in str(app.screen.query_one("#editor-status").content))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and review.selected.id == "edit-1")


async def test_an_external_edit_with_a_syntax_error_is_not_checked(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    app.edit_text = lambda text, name="": "def add(a, b)\n    return a + b\n"
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        await pilot.press("E")
        await wait_for(pilot, lambda: any("Syntax error at line 1" in n.message for n in app._notifications))
        assert review.edits == 0 and review.search_tree.get("edit-1") is None
