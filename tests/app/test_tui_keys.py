"""Keys behave as in other terminal apps: Esc leaves a field, Enter in a field submits,
every binding (ctrl+s, ctrl+q included) is in the footer or the command palette with all
its keys, and `?` shows every key of the screen."""

from __future__ import annotations

import pytest
from textual.widgets import HelpPanel, Input, OptionList

from orps_tui.app import make_app
from orps_tui.screens.search import SearchScreen
from orps_tui.screens.start import StartScreen
from tests.tui_support import TARGET, ProjectFake, make_project, settings, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


async def start_screen(pilot) -> StartScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StartScreen) and pilot.app.screen.scanned)
    return pilot.app.screen


async def test_esc_leaves_a_field_and_q_then_quits(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await start_screen(pilot)
        assert isinstance(start.focused, OptionList)  # the list from the start: q is never typed into a field
        start.query_one("#problem", Input).focus()
        await pilot.press("q", "escape")
        assert start.query_one("#problem", Input).value == "q"  # typed in the field, kept
        assert isinstance(start.focused, OptionList)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_enter_in_a_field_starts_the_search(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake())
    app.auto_review = False
    async with app.run_test(size=SIZE) as pilot:
        start = await start_screen(pilot)
        start.query_one("#problem", Input).focus()
        await pilot.press(*"add them", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        assert "add them" in app.screen.job.task.problem


async def test_every_binding_is_in_the_palette_with_all_its_keys(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await start_screen(pilot)
        helps = {c.title: c.help for c in app.get_system_commands(start)}
        assert "s, ctrl+s" in helps["Start"] and "q, ctrl+q" in helps["Quit"]
        assert "h, ctrl+r" in helps["History"] and "/, ctrl+f" in helps["Filter"]
        assert "?" in helps["Keys"] and "escape" in helps["Leave field"]


async def test_question_mark_shows_every_key_and_types_in_a_field(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await start_screen(pilot)
        await pilot.press("?")
        await pilot.pause()
        assert start.query(HelpPanel)
        await pilot.press("?")
        await pilot.pause()
        assert not start.query(HelpPanel)
        start.query_one("#problem", Input).focus()
        await pilot.press("?")
        assert start.query_one("#problem", Input).value == "?" and not start.query(HelpPanel)


async def test_a_palette_entry_for_a_key_runs_its_action(project):
    from orps_tui.screens.history import HistoryScreen

    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await start_screen(pilot)
        (history,) = [c for c in app.get_system_commands(start) if c.title == "History"]
        app.call_later(history.callback)  # as the palette does when the entry is chosen
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
