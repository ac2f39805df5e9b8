"""The TUI stops like the headless search: Ctrl+C during a search with a model that stays busy
until cancelled shows what was found, `q` then ends the app with exit code 0, and nothing of
the run is left running (no model call, no thread, no sandbox process); the run stays
resumable. The candidates run in the real sandbox, so a leftover process would show.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from orps_tui.app import make_app
from orps_tui.screens.review import ReviewScreen
from orps_tui.screens.search import SearchScreen
from search.providers.scripted import register_script
from search.store import find_run
from tests.support import sandboxes_under, until
from tests.tui_support import TARGET, make_project, settings, wait_for

pytestmark = pytest.mark.slow


def idle_pool_worker(thread: threading.Thread) -> bool:
    """A thread-pool worker waiting for its next job (in the C `SimpleQueue.get`, so its
    innermost Python frame is the pool's `_worker` loop), not running one."""
    frame = sys._current_frames().get(thread.ident)
    names = []
    while frame is not None:
        names.append((Path(frame.f_code.co_filename).name, frame.f_code.co_name))
        frame = frame.f_back
    return bool(names) and names[0] == ("thread.py", "_worker")


SIZE = (120, 36)


async def test_ctrl_c_then_q_ends_the_app_with_nothing_left_running(tmp_path):
    project = make_project(tmp_path)
    in_model, cancelled = threading.Event(), threading.Event()

    async def busy(messages, params):  # a model that never answers unless cancelled
        in_model.set()
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    register_script("busy-tui", busy)
    threads_before = set(threading.enumerate())
    app = make_app(project, target=TARGET, settings=settings(model="scripted/busy-tui"), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, in_model.is_set, 120)  # the original ran in the sandbox; a model call is in flight
        search = app.screen
        assert isinstance(search, SearchScreen) and search.state == "running"
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 10)
        assert cancelled.is_set()  # the model call itself was cancelled, not left to finish
        await pilot.press("q")
    assert app.exit_status == 0 and app.return_code == 0

    def new_threads():  # busy ones: an idle worker of the loop's thread pool waits for work, it runs nothing
        return [
            t.name
            for t in set(threading.enumerate()) - threads_before
            if t.is_alive() and not t.daemon and not idle_pool_worker(t)
        ]

    try:
        await until(lambda: not new_threads(), 30, "the run's threads ending")
    except AssertionError as err:
        raise AssertionError(f"{err}: {new_threads()}") from None
    await until(lambda: not sandboxes_under(os.getpid()), 30, "the run's sandboxes ending")

    run = find_run(project, search.job.run.id)
    assert run.meta()["status"] == "interrupted"  # `orps solve --resume` and the history continue it
