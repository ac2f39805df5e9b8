"""Snapshot tests (pytest-textual-snapshot) of the main screens, made deterministic: a
fixed run id, a frozen clock, the scripted model, the in-process evaluator, one model
call at a time. Update with `pytest tests/app/test_tui_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from orps_tui.app import make_app
from orps_tui.screens.history import HistoryScreen
from orps_tui.screens.review import ReviewScreen
from orps_tui.screens.search import SearchScreen
from orps_tui.screens.start import StartScreen
from orps_tui.widgets.nodes import NodeDetail
from tests.tui_support import TARGET, ProjectFake, make_project, settings, wait_for


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setattr("search.store.new_run_id", lambda: "20260101-120000-snap")
    return make_project(tmp_path)


def frozen(app):
    app.clock = lambda: 0.0
    return app


def solving_app(project, **kwargs):
    return frozen(
        make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True, **kwargs)
    )


async def until_review(pilot):
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
def test_start_screen(project, snap_compare, size):
    app = frozen(make_app(project, settings=settings(), evaluator=ProjectFake()))

    async def run_before(pilot):
        start = pilot.app.screen
        assert isinstance(start, StartScreen)
        await wait_for(pilot, lambda: start.checked.get(TARGET) is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (200, 60), (80, 24)])
def test_search_screen_finished(project, snap_compare, size):
    app = solving_app(project)
    app.auto_review = False

    async def run_before(pilot):
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SearchScreen) and pilot.app.screen.result)
        await pilot.press("down", "down", "down")  # the best node, 1-0
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_search_screen_feedback_tab(project, snap_compare):
    app = solving_app(project)
    app.auto_review = False

    async def run_before(pilot):
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SearchScreen) and pilot.app.screen.result)
        await pilot.press("down")
        pilot.app.screen.query_one(NodeDetail).active = "tab-feedback"
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
def test_review_screen(project, snap_compare, theme):
    app = solving_app(project)
    app.theme = theme
    assert snap_compare(app, terminal_size=(120, 36), run_before=until_review)


def test_review_screen_small(project, snap_compare):
    assert snap_compare(solving_app(project), terminal_size=(80, 24), run_before=until_review)


def test_accept_confirmation(project, snap_compare):
    async def run_before(pilot):
        await until_review(pilot)
        await pilot.press("a")
        await pilot.pause()

    assert snap_compare(solving_app(project), terminal_size=(120, 36), run_before=run_before)


def test_compare_screen(project, snap_compare):
    async def run_before(pilot):
        await until_review(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(solving_app(project), terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
def test_history_screen(project, snap_compare, size):
    async def run_before(pilot):
        await until_review(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen) and pilot.app.screen.loaded)
        await pilot.pause()

    assert snap_compare(solving_app(project), terminal_size=size, run_before=run_before)
