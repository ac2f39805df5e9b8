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


# -- edits kept per function ----------------------------------------------------------------------


async def edit_and_save(pilot, review, new_line: str) -> None:
    """Open the editor on the shown node, replace its return line, save, wait for the new
    edit to be checked and shown."""
    area = await open_editor(pilot)
    before = set(review.kept)
    area.text = "\n".join(new_line if "return" in line else line for line in area.text.splitlines()) + "\n"
    await pilot.press("ctrl+s")
    await wait_for(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, ReviewScreen)
            and review.kept - before
            and review.selected.id in review.kept - before
        ),
    )


async def test_an_edit_from_an_earlier_app_run_is_kept_and_a_new_one_does_not_replace_it(project):
    from orps_tui.edits import edited_targets, kept_edits

    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        await edit_and_save(pilot, review, "    return a + b + 0")
        assert review.selected.id == "edit-1"
    first_run = list_runs(project)[0]
    assert [n.id for n in kept_edits(project, TARGET)] == ["edit-1"]
    assert edited_targets(project) == {TARGET: 1}

    # a second run of the app: a new search of the same function
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        # listed again, marked ✎, with its verdict
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and "✎ edit-1" in screen_text(app))
        review = app.screen
        assert "edit-1" in review.kept
        await edit_and_save(pilot, review, "    return b + a")
        assert review.selected.id == "edit-2"
    kept = {n.id: n.code for n in kept_edits(project, TARGET)}
    assert set(kept) == {"edit-1", "edit-2"}
    assert "a + b + 0" in kept["edit-1"] and "b + a" in kept["edit-2"]
    tree = json.loads(first_run.file("tree.json").read_text())
    assert [n["code"] for n in tree["nodes"] if n["id"] == "edit-1"][0] == kept["edit-1"]  # not overwritten
    assert (project / "calc.py").read_text() == CALC


async def test_the_start_screen_marks_a_function_with_kept_edits(project):
    from orps_tui.edits import keep_edit
    from orps_tui.screens.start import StartScreen
    from search.tree import Node

    keep_edit(
        project,
        TARGET,
        Node(id="edit-1", parent=None, round=0, style="edited by you", code="def add(a, b):\n    return a + b\n"),
        "some-run",
    )
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.scanned)
        await wait_for(pilot, lambda: "✎calc.py::add" in screen_text(app))
        assert "✎calc.py::mul" not in screen_text(app)
        await wait_for(pilot, lambda: "1 of your edits kept for it" in screen_text(app))


async def test_a_def_line_edit_that_would_not_reach_the_file_is_refused_with_the_reason(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        area = await open_editor(pilot)
        review = app.screen_stack[-2]
        area.text = area.text.replace("def add(a, b):", "def add(a: int, b: int) -> int:")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "your change to the def line" in screen_text(app))
        assert isinstance(app.screen, EditorScreen) and review.edits == 0
        assert area.text.splitlines()[area.cursor_location[0]].startswith("def add(")
        # a change of the parameters is an interface change: kept and re-checked
        area.text = area.text.replace("def add(a: int, b: int) -> int:", "def add(a, b, c=0):")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and review.kept)
        assert "def add(a, b, c=0):" in review.selected.code
        await wait_for(pilot, lambda: "INTERFACE CHANGE" in screen_text(app))


async def test_a_renamed_function_is_refused_in_the_editor(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        area = await open_editor(pilot)
        area.text = area.text.replace("def add(", "def plus(")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "must keep its name add" in screen_text(app))
        assert isinstance(app.screen, EditorScreen)


async def test_a_kept_edit_is_dropped_when_discarded_or_applied(project):
    from orps_tui.edits import kept_edits
    from orps_tui.screens.dialogs import ConfirmScreen

    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        await edit_and_save(pilot, review, "    return a + b + 0")
        await edit_and_save(pilot, review, "    return b + a")
        assert [n.id for n in kept_edits(project, TARGET)] == ["edit-1", "edit-2"]
        await pilot.press("x")  # edit-2 is shown
        await wait_for(pilot, lambda: "edit-2" not in review.kept)
        assert [n.id for n in kept_edits(project, TARGET)] == ["edit-1"]
        assert review.search_tree.get("edit-2") is None
        await wait_for(pilot, lambda: review.selected is not None and review.selected.id != "edit-2")
        options = review.query_one("#node-list")
        options.highlighted = options.get_option_index("edit-1")  # as arrow keys would
        await wait_for(pilot, lambda: review.selected.id == "edit-1")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: review.applied)
        assert kept_edits(project, TARGET) == []
        assert "a + b + 0" in (project / "calc.py").read_text()
