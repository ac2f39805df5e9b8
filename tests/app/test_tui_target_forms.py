"""The start screen accepts every target form the command line accepts: a path relative to
where orps was started, a dotted module; a close existing name is named ("did you mean")."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from orps_tui.app import make_app
from orps_tui.screens.search import SearchScreen
from orps_tui.screens.start import StartScreen
from tests.tui_support import ProjectFake, make_project, screen_text, settings, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    monkeypatch.chdir(project / "tests")  # orps started in a subdirectory, as the CLI allows
    return project


@pytest.mark.parametrize("typed", ["../calc.py::add", "calc::add", "  ../calc.py::add  "])
async def test_relative_and_dotted_targets_are_the_existing_function(project, typed):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    app.auto_review = False
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.scanned)
        start = app.screen
        field = start.query_one("#target", Input)
        field.focus()
        field.value = typed
        # the first function is highlighted before anything is typed, so the target alone may
        # already read calc.py::add: wait until the typed text itself has been read and adopted
        await wait_for(pilot, lambda: "typed as" in screen_text(app) and "def add(a, b):" in screen_text(app))
        assert start.target == "calc.py::add" and field.value == "calc.py::add"
        assert not start.is_new(start.target)
        assert "new function" not in screen_text(app)
        await pilot.press("escape", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        assert app.screen.job.task.target == "calc.py::add"


async def test_a_mistyped_name_gets_did_you_mean(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.scanned)
        field = app.screen.query_one("#target", Input)
        field.value = "../calc.py::ad"
        await wait_for(pilot, lambda: "did you mean" in screen_text(app))
        assert "add" in screen_text(app)
