"""Text from the system or the user's code is shown literally (never read as markup), and a
failed action says why where the user looks (a dialog or a notification), never silently."""

from __future__ import annotations

import pytest

from orps_tui.app import make_app
from orps_tui.screens.dialogs import ConfirmScreen, MessageScreen
from orps_tui.screens.review import ReviewScreen
from tests.tui_support import CALC, TARGET, ProjectFake, make_project, screen_text, settings, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def solving_app(project, evaluator=None):
    return make_app(
        project, target=TARGET, settings=settings(), evaluator=evaluator or ProjectFake(), headless_start=True
    )


async def open_review(pilot) -> ReviewScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.pause()
    return pilot.app.screen


async def test_an_os_error_on_apply_is_shown_as_it_is(project, monkeypatch):
    import runners.code.patch

    def read_only(project, patch, **kwargs):
        raise OSError(30, "Read-only file system", "calc[/].py")  # a closing tag, to markup

    monkeypatch.setattr(runners.code.patch, "apply_patch", read_only)
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        review = await open_review(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "Not applied" in text
        assert "[Errno 30] Read-only file system: 'calc[/].py'" in text
        assert not review.applied
    assert (project / "calc.py").read_text() == CALC


class BreaksOnRecheck(ProjectFake):
    """The search runs as usual; checking an edit fails with brackets in the message."""

    armed = False

    async def evaluate(self, task, code, *, hidden=False):
        if self.armed:
            raise TypeError("expected list[list], got [1] and [b]bold[/b]")
        return await super().evaluate(task, code, hidden=hidden)


async def test_a_failed_background_step_says_why_literally(project):
    evaluator = BreaksOnRecheck()
    app = solving_app(project, evaluator)
    app.edit_text = lambda text, name="": "def add(a, b):\n    return b + a\n"
    async with app.run_test(size=SIZE) as pilot:
        await open_review(pilot)
        evaluator.armed = True
        await pilot.press("E")
        message = "Re-checking your edit failed: TypeError: expected list[list], got [1] and [b]bold[/b]"
        await wait_for(pilot, lambda: any(n.message == message for n in app._notifications))
        note = next(n for n in app._notifications if n.message == message)
        assert note.severity == "error" and not note.markup  # the toast shows it as it is


async def test_notifications_never_parse_markup(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await open_review(pilot)
        app.screen.notify("a test id test_x[a-b] and [Errno 2]")  # a widget's notify asks for markup
        await pilot.pause()
        note = list(app._notifications)[-1]
        assert note.message == "a test id test_x[a-b] and [Errno 2]" and not note.markup
