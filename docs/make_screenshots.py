"""Regenerate the README screenshots: docs/screenshots/search.svg, review.svg and
search-folded.svg (a larger tree with its round 0 folded).

Runs the TUI headless on the tests' tiny calculator project with the scripted model and
the in-process evaluator (fixed run id, frozen clock), so the pictures are reproducible.

    python docs/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import search.store  # noqa: E402
from orps_tui.app import make_app  # noqa: E402
from orps_tui.screens.review import ReviewScreen  # noqa: E402
from orps_tui.screens.search import SearchScreen  # noqa: E402
from orps_tui.widgets.nodes import NodeDetail, NodeTable  # noqa: E402
from tests.tui_support import TARGET, ProjectFake, make_project, settings, wait_for  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


async def main() -> None:
    search.store.new_run_id = lambda: "20260101-120000-demo"
    project = make_project(Path(tempfile.mkdtemp()))
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    app.clock = lambda: 0.0
    app.auto_review = False
    async with app.run_test(size=(120, 32)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.result is not None)
        app.screen.query_one(NodeTable).move_cursor(row=3)  # 0-0, pruned: its failing test
        app.screen.query_one(NodeDetail).active = "tab-feedback"
        await pilot.pause()
        app.save_screenshot(str(OUT / "search.svg"))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.pause()
        app.save_screenshot(str(OUT / "review.svg"))
    # a larger tree (4 samples, a beam of 2), its round 0 folded into one row (`f`)
    search.store.new_run_id = lambda: "20260101-120500-demo"
    app = make_app(
        project,
        target=TARGET,
        settings=settings(samples=4, beam=2, rounds=2),
        evaluator=ProjectFake(),
        headless_start=True,
    )
    app.clock = lambda: 0.0
    app.auto_review = False
    async with app.run_test(size=(120, 32)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.result is not None)
        table = app.screen.query_one(NodeTable)
        table.toggle_round(0)
        await wait_for(pilot, lambda: "round-0" in table.rows)
        await pilot.pause()
        app.save_screenshot(str(OUT / "search-folded.svg"))
    print(f"wrote {OUT / 'search.svg'}, {OUT / 'review.svg'} and {OUT / 'search-folded.svg'}")


if __name__ == "__main__":
    asyncio.run(main())
