"""The TUI driven by Pilot with the scripted model and the real sandbox on the sample project."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from orps_tui.app import make_app
from orps_tui.screens.dialogs import CompareScreen, ConfirmScreen
from orps_tui.screens.history import HistoryScreen
from orps_tui.screens.review import ReviewScreen
from orps_tui.screens.search import SearchScreen
from orps_tui.screens.start import StartScreen, fuzzy_match
from orps_tui.solving import SolveRequest, prepare_job
from orps_tui.widgets.nodes import NodeTable
from search.providers.scripted import register_script
from tests.e2e.test_solve_project import ANSWERS, SAMPLE, WORDS
from tests.support import answering_by_name
from tests.tui_support import wait_for

pytestmark = pytest.mark.slow
SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "proj"
    shutil.copytree(SAMPLE, dest)
    register_script("tui", answering_by_name(ANSWERS, "Correct.\nScore: 5/5"))
    return dest


def job_for(project: Path, target: str = f"{WORDS}::slugify", evaluator=None, **settings):
    request = SolveRequest(target=target, settings={"model": "scripted/tui", "cache": False, **settings})
    return prepare_job(project, request, evaluator=evaluator)


async def test_full_search_to_accepted_patch(project):
    app = make_app(project, job=job_for(project))
    before = (project / WORDS).read_text()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        assert review.best is not None and review.best.all_passed
        table_screen = app.screen_stack[-2]
        assert isinstance(table_screen, SearchScreen)
        assert table_screen.query_one(NodeTable).row_count >= 2
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: review.applied)
    after = (project / WORDS).read_text()
    assert after != before and "re.sub" in after
    assert list((project / ".orps" / "backups").iterdir())


async def test_reject_leaves_the_project_untouched(project):
    app = make_app(project, job=job_for(project))
    before = (project / WORDS).read_text()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("r")
        await pilot.pause(0.2)
    assert (project / WORDS).read_text() == before


async def test_accept_then_no_keeps_file(project):
    app = make_app(project, job=job_for(project))
    before = (project / WORDS).read_text()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
    assert (project / WORDS).read_text() == before


class SlowEvaluator:
    """Wraps the real evaluator and makes every evaluation slow, to cancel mid-search."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay

    async def evaluate(self, task, code, *, hidden=False):
        await asyncio.sleep(self.delay)
        return await self.inner.evaluate(task, code, hidden=hidden)

    async def measure_runtime(self, task, code, repeats=5):
        return await self.inner.measure_runtime(task, code, repeats)


async def test_cancel_mid_search_keeps_what_was_found_and_resumes(project):
    from runners.testing.evaluator import SandboxEvaluator

    evaluator = SlowEvaluator(SandboxEvaluator(), 1.5)
    job = job_for(project, evaluator=evaluator, rounds=3, samples=2)
    app = make_app(project, job=job, evaluator=evaluator)
    async with app.run_test(size=SIZE) as pilot:
        search = app.screen
        assert isinstance(search, SearchScreen)
        await pilot.pause(0.5)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert search.state == "cancelled"
    assert job.run.meta()["status"] == "interrupted"

    # Resume from history: the same run continues and finishes.
    app = make_app(project, evaluator=SandboxEvaluator())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60)
        assert app.screen.best is not None and app.screen.best.all_passed
    assert job.run.meta()["status"] == "finished"


async def test_history_opens_a_finished_run_for_review(project):
    app = make_app(project, job=job_for(project))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, StartScreen)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("n", "p", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))


async def test_start_screen_lists_functions_and_starts(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        start = app.screen
        assert isinstance(start, StartScreen)
        await wait_for(pilot, lambda: len(start.functions) >= 5)
        targets = [t for t, _ in start.functions]
        assert f"{WORDS}::slugify" in targets and f"{WORDS}::Counter.add" in targets
        await pilot.click("#filter")
        await pilot.press(*"slgfy")
        await pilot.pause(0.1)
        await pilot.press("enter")  # to the list
        await pilot.press("down", "up")
        await wait_for(pilot, lambda: start.target == f"{WORDS}::slugify")
        start.query_one("#model").value = "scripted/tui"
        start.query_one("#samples").value = "2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))


async def test_file_change_marks_the_proposal_stale(project):
    app = make_app(project, job=job_for(project))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        # The screen starts its watcher in a thread when mounted; `watcher` is set once it watches.
        await wait_for(pilot, lambda: review.watcher is not None, timeout=10)
        assert not review.stale
        path = project / WORDS
        path.write_text(path.read_text().replace('"""Lower-case', '"""Make lower-case'))
        await wait_for(pilot, lambda: review.stale, timeout=10)


def test_fuzzy_match():
    assert fuzzy_match("slgfy", "src/textkit/words.py::slugify")
    assert not fuzzy_match("zz", "slugify")
