"""What keeps the TUI's event loop from stalling (benchmarks/bench_tui_stall.py measures the
whole): the footer's keys are not restyled or rebuilt for nothing, the detail tabs mount
their content when first opened, the result document is built off the loop, the heap is
frozen once as the first search starts, litellm's first-call setup runs where it loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from textual.widgets import Static
from textual.widgets._footer import FooterKey

import orps_tui.app as app_module
from orps_tui.app import make_app
from orps_tui.screens.review import ReviewScreen
from orps_tui.screens.search import SearchScreen
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.nodes import NodeDetail, NodeTable
from tests.tui_support import TARGET, ProjectFake, make_project, screen_text, settings, wait_for

ROOT = Path(__file__).resolve().parents[2]
SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def solving_app(project):
    return make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)


async def test_footer_keys_are_not_restyled_or_rebuilt_for_the_same_keys(project, monkeypatch):
    restyled, rebuilt = [], []
    original_update = FooterKey.update_node_styles
    original_recompose = Footer.recompose

    def update_node_styles(self, animate: bool = True):
        restyled.append(self)
        return original_update(self, animate)

    async def recompose(self):
        rebuilt.append(self)
        return await original_recompose(self)

    monkeypatch.setattr(FooterKey, "update_node_styles", update_node_styles)
    monkeypatch.setattr(Footer, "recompose", recompose)
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await wait_for(pilot, lambda: "a Accept" in screen_text(app) and "r Reject" in screen_text(app))
        review = app.screen
        keys = [key for key in review.query(FooterKey)]
        # The keys the screen shows, compact as the footer is not (Textual's default look).
        assert [key.description for key in keys][:3] == ["Accept", "Reject", "Edit"]
        assert not any(key.has_class("-compact") for key in keys if not key.has_class("-command-palette"))
        assert "a Accept" in screen_text(app) and "r Reject" in screen_text(app)
        assert restyled == []  # Textual's Footer: two style updates per key per rebuild
        rebuilt.clear()
        # A dialog over the review and back, focus moves: the bindings change, to the same keys.
        await pilot.press("d")
        await wait_for(pilot, lambda: app.screen is not review)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is review)
        for key in ("tab", "shift+tab", "down"):
            await pilot.press(key)
            await pilot.pause()
        assert review.query_one(Footer) not in rebuilt
        assert "a Accept" in screen_text(app)


async def test_detail_tabs_are_one_pane_and_render_only_the_tab_shown(project):
    app = solving_app(project)
    app.auto_review = False
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.result is not None)
        detail = app.screen.query_one(NodeDetail)
        assert not detail.query("TabbedContent, TabPane, ContentSwitcher")  # three screen-high widgets fewer
        code, other = detail.query_one("#code", Static), detail.query_one("#detail-tab", Static)
        assert code.display and not other.display
        assert not str(other.content)  # nothing rendered for a tab never opened
        app.screen.query_one(NodeTable).move_cursor(
            row=3
        )  # 0-0, a failing node (tree order: original, 1-0, 1-1, 0-0, 0-1)
        detail.active = "tab-feedback"
        await pilot.pause()
        assert other.display and not code.display and "✗ tests/test_calc.py::test_add" in screen_text(app)
        await pilot.press("down")  # its content follows the selection
        await pilot.pause()
        assert detail.node_id == "0-1" and "✗ tests/test_calc.py::test_add" in screen_text(app)
        detail.active = "tab-code"
        await pilot.pause()
        assert code.display and not other.display and "def add" in screen_text(app)
        await pilot.press("tab")  # the tab bar takes the focus; arrows switch tabs, as before
        await pilot.press("right", "right")
        await pilot.pause()
        assert detail.active == "tab-reasoning" and other.display


async def test_the_result_document_is_built_off_the_event_loop(project, monkeypatch):
    from orps_tui.screens import search as search_screen

    threads = []
    real = search_screen.finish_result

    def finish_result(job, result):
        threads.append(threading.current_thread())
        return real(job, result)

    monkeypatch.setattr(search_screen, "finish_result", finish_result)
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        search = app.screen_stack[-2]
        assert threads and threads[0] is not threading.main_thread()
        assert search.finished_doc["status"] == "solved" and "+    return a + b" in search.finished_doc["patch"]
        stored = json.loads((search.job.run.path / "result.json").read_text())
        assert stored["patch"] == search.finished_doc["patch"]


async def test_the_heap_is_frozen_once_as_the_first_search_starts(project, monkeypatch):
    import gc

    freezes = []
    # the warm-up's freeze counted as done, as it is after the first app of a process
    monkeypatch.setattr(app_module, "_frozen_at", {"after the warm-up's imports"})
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append("before the first search" in app_module._frozen_at))
    for _ in range(2):
        app = solving_app(project)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
    assert freezes == [True]  # one freeze for both searches (the warm-up's own runs once per process)


def test_litellm_first_call_setup_runs_where_it_loads():
    """In a fresh process: after load_litellm, a completion costs the caller a few ms and
    does not build tiktoken's encoding; the encoding still works when something uses it."""
    code = r"""
import asyncio, time
from search.gateway import load_litellm
litellm = load_litellm()
import litellm.main as main
assert main._encoding_cache is not None and "encoding" not in vars(main), "no stand-in"
from search.providers.scripted import register_script
register_script("t", lambda messages, params: "hello")
async def call():
    started = time.thread_time()
    response = await litellm.acompletion(model="scripted/t", messages=[{"role": "user", "content": "hi"}])
    return time.thread_time() - started, response.choices[0].message.content
cpu, text = asyncio.run(call())
assert text == "hello", text
assert "encoding" not in vars(main), "the first call built the encoding"
assert cpu < 0.05, f"first call cost the caller {cpu * 1000:.0f} ms of CPU"
assert litellm.encoding.encode("hello world") == main._get_encoding().encode("hello world") == [15339, 1917]
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


async def test_only_the_first_resume_skips_the_screens_restyle(project, monkeypatch):
    from textual.screen import Screen

    resumes = []
    original = Screen._on_screen_resume

    def record(self, event):
        resumes.append((type(self).__name__, event.refresh_styles))
        return original(self, event)

    monkeypatch.setattr(Screen, "_on_screen_resume", record)
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        await pilot.press("d")  # a dialog over the review, then back: a second resume
        await wait_for(pilot, lambda: app.screen is not review)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is review)
        await pilot.press("s")  # back to the search screen below: its second resume
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.pause()
    ours = [r for r in resumes if r[0] in ("SearchScreen", "ReviewScreen")]
    # Pushed: Textual would restyle (True); a pop restyles only after a transparent screen.
    assert ours == [("SearchScreen", False), ("ReviewScreen", False), ("ReviewScreen", False), ("SearchScreen", False)]
    assert any(r == ("CompareScreen", True) for r in resumes)  # other screens keep Textual's restyle


async def test_the_second_layout_of_a_new_screen_lets_the_loop_run_first(project, monkeypatch):
    """A timer due when the screen's first paint ends (a key, the clock) runs before the
    layout that its Resize asks for, not after both."""
    import asyncio

    from textual.screen import Screen

    order = []
    resume, resize = Screen._on_screen_resume, Screen._on_resize

    def on_screen_resume(self, event):
        resume(self, event)
        name = type(self).__name__
        asyncio.get_running_loop().call_later(0, lambda: order.append(("timer", name)))

    async def on_resize(self, event):
        order.append(("layout", type(self).__name__))
        await resize(self, event)

    monkeypatch.setattr(Screen, "_on_screen_resume", on_screen_resume)
    monkeypatch.setattr(Screen, "_on_resize", on_resize)
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.pause()
    for name in ("SearchScreen", "ReviewScreen"):
        ours = [what for what, screen in order if screen == name]
        assert ours[:2] == ["timer", "layout"], (name, order)


async def test_a_new_screens_first_paint_runs_after_its_layout_with_the_loop_run_between(project, monkeypatch):
    """Textual lays a pushed screen out and paints it in one call of its first resume; the
    search and review screens paint in a later loop step, after a timer due by then."""
    import asyncio

    from textual.screen import Screen

    order = []
    resume, paint = Screen._on_screen_resume, Screen._compositor_refresh

    def on_screen_resume(self, event):
        name = type(self).__name__
        order.append(("resume", name))
        resume(self, event)
        order.append(("resumed", name))
        asyncio.get_running_loop().call_later(0, lambda: order.append(("timer", name)))

    def compositor_refresh(self):
        order.append(("paint", type(self).__name__))
        paint(self)

    monkeypatch.setattr(Screen, "_on_screen_resume", on_screen_resume)
    monkeypatch.setattr(Screen, "_compositor_refresh", compositor_refresh)
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.pause()
        assert "diff" in screen_text(app.screen).lower()  # painted in the end
        review = app.screen
        await pilot.press("d")  # the compare screen: Textual's own first resume
        await wait_for(pilot, lambda: app.screen is not review)
        await pilot.pause()
    for name in ("SearchScreen", "ReviewScreen"):
        ours = [what for what, screen in order if screen == name]
        first = ours.index("resume")
        assert ours[first : first + 4] == ["resume", "resumed", "timer", "paint"], (name, order)
    compare = [what for what, screen in order if screen == "CompareScreen"]
    assert compare[:3] == ["resume", "paint", "resumed"]  # other screens keep Textual's way
