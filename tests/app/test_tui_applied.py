"""Whether a proposal is applied is read from the files: the TUI, `orps runs` and `orps
runs --json` agree after an apply, an undo with `u`, `orps apply --revert` or an undo by
hand; `u` in the review undoes an apply made there, as safely as `orps apply --revert`."""

from __future__ import annotations

import json

import pytest

from orps_tui.app import make_app
from orps_tui.cli import run_command
from orps_tui.screens.dialogs import ConfirmScreen, MessageScreen
from orps_tui.screens.history import HistoryScreen
from orps_tui.screens.review import ReviewScreen
from tests.tui_support import CALC, TARGET, ProjectFake, make_project, screen_text, settings, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def applied_rows(project) -> list[bool]:
    """What `orps runs --json` says (its very function), inside a running app (whose stdout
    Textual holds)."""
    from orps_tui.applied import with_applied
    from search.store import run_rows

    return [r["applied"] for r in with_applied(project, run_rows(project, 20))]


def runs_json(project, capsys) -> list[dict]:
    capsys.readouterr()
    assert run_command(["runs", "--project", str(project), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["runs"]


async def accept(pilot, review: ReviewScreen) -> None:
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
    await pilot.press("y")
    await wait_for(pilot, lambda: review.applied)


async def open_review(pilot) -> ReviewScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.pause()
    return pilot.app.screen


async def test_u_undoes_the_apply_and_every_view_agrees(project, capsys):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        review = await open_review(pilot)
        await accept(pilot, review)
        assert "APPLIED" in screen_text(app)
        assert applied_rows(project) == [True]
        await pilot.press("u")
        await wait_for(pilot, lambda: not review.applied)
        assert (project / "calc.py").read_text() == CALC  # the original, byte for byte
        assert "APPLIED" not in screen_text(app) and "STALE" not in screen_text(app)
        assert any(n.title == "Undone" for n in app._notifications)
        assert applied_rows(project) == [False]
        await pilot.press("u")  # nothing left to undo: said, not silent
        await pilot.pause()
        assert any("nothing to undo" in n.message for n in app._notifications)
        await accept(pilot, review)  # and it can go in again
    assert "return a + b" in (project / "calc.py").read_text()
    assert [r["applied"] for r in runs_json(project, capsys)] == [True]


async def test_u_refuses_when_the_file_changed_since_the_apply(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        review = await open_review(pilot)
        await accept(pilot, review)
        changed = (project / "calc.py").read_text() + "\n# my own line\n"
        (project / "calc.py").write_text(changed)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
        assert "changed after the patch was applied" in screen_text(app)
    assert (project / "calc.py").read_text() == changed  # nothing was reverted


async def test_a_revert_outside_the_tui_is_seen_when_the_run_is_opened(project, capsys):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        await accept(pilot, await open_review(pilot))
    assert run_command(["apply", "--revert", "--project", str(project)]) == 0
    assert [r["applied"] for r in runs_json(project, capsys)] == [False]
    capsys.readouterr()
    assert run_command(["runs", "--project", str(project)]) == 0
    table = capsys.readouterr().out
    assert "APPLIED" in table.splitlines()[0] and " yes " not in table
    app = make_app(project, evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        await pilot.press("enter")
        review = await open_review(pilot)
        await pilot.pause(0.3)
        assert not review.applied and "APPLIED" not in screen_text(app)
    # applied by hand (the same text the patch writes): applied, without any record of it
    (project / "calc.py").write_text(CALC.replace("return a - b", "return a + b"))
    assert [r["applied"] for r in runs_json(project, capsys)] == [True]


async def test_a_stale_proposal_is_flagged_when_opened(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        review = await open_review(pilot)
        await pilot.pause(0.3)
        assert not review.stale  # the file is as the search saw it
    (project / "calc.py").write_text(CALC.replace('"""A tiny calculator."""', '"""A calculator."""'))
    app = make_app(project, evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        await pilot.press("enter")
        review = await open_review(pilot)
        await wait_for(pilot, lambda: review.stale)  # at once, before any accept
        assert "STALE" in screen_text(app)
        assert any("changed since this search" in n.message for n in app._notifications)
