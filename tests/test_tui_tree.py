"""The live search tree: each node under its parent, the beam's choice marked, a legend for
the columns, the plan's progress and what the search is doing now."""

from __future__ import annotations

import time

import pytest

from orps_tui.app import make_app
from orps_tui.screens.search import SearchScreen
from orps_tui.widgets.nodes import LEGEND, NodeTable
from search.providers.scripted import register_script
from search.tree import Node, SearchTree
from tests.tui_support import TARGET, ProjectFake, make_project, respond, screen_text, settings, wait_for

SIZE = (160, 40)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def slow(messages, params):
    time.sleep(0.4)  # a model that takes its time: the status says the search waits for it
    return respond(messages, params)


async def test_status_says_what_the_search_waits_for_and_where_it_is(project):
    register_script("slow-calc", slow)
    app = make_app(project, target=TARGET, settings=settings(model="scripted/slow-calc", budget_calls=8),
                   evaluator=ProjectFake(), headless_start=True)
    app.auto_review = False
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        search = app.screen
        await wait_for(pilot, lambda: "waiting for the model, " in screen_text(app))
        text = screen_text(app)
        assert "round 0 (samples), then 1 refinement round(s)" in text or "round 1 of" in text
        assert "calls " in text and " of 8" in text  # calls used of the budget
        assert LEGEND[:40] in text
        await wait_for(pilot, lambda: search.result is not None)
        assert "waiting" not in screen_text(app).splitlines()[1]  # ended: the outcome, not an activity


async def test_tree_order_marks_and_dimming():
    from textual.app import App

    tree = SearchTree()
    for node_id, parent, rnd in [("baseline", None, -1), ("0-0", None, 0), ("0-1", None, 0), ("0-2", None, 0),
                                 ("1-0", "0-2", 1), ("1-1", "0-0", 1), ("2-0", "1-1", 2)]:
        tree.add(Node(id=node_id, parent=parent, round=rnd))
    for node in tree:
        from search.types import Evaluation

        node.evaluation = Evaluation("failed", 0, 1)

    class Holder(App):
        def compose(self):
            yield NodeTable()

    app = Holder()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.fill(tree)
        await pilot.pause()
        rows = [table.get_row_at(i)[1] for i in range(table.row_count)]
        assert [r.plain for r in rows] == ["original", "● 0-0", "└ ● 1-1", "  └ 2-0", "0-1", "● 0-2", "└ 1-0"]
        dim = [r.plain for r in rows if str(r.style) == "dim"]
        assert dim == ["0-1", "└ 1-0"]  # passed over by a later round; 2-0 is the last round's
