"""TUI responsiveness: with a 500-node search tree on screen, the time per selection move.

Builds 500 evaluated nodes, shows them in the search screen's table and detail pane
headless, and moves the cursor down and up, waiting for each redraw. Prints the median
and the 95th percentile per move (one frame at 60 Hz is 16.7 ms).

    python benchmarks/bench_tui.py [--nodes 500] [--moves 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from textual.app import App, ComposeResult
from textual.containers import Horizontal

from orps_tui.widgets.nodes import NodeDetail, NodeTable
from search.tree import Node, SearchTree
from search.types import Evaluation, Task, TestResult


def make_tree(n: int) -> SearchTree:
    tree = SearchTree()
    for i in range(n):
        node = Node(id=f"{i // 20}-{i % 20}", parent=None, round=i // 20, style="efficient",
                    reasoning="Because. " * 40, code=f"def f(x):\n    return x + {i}\n" * 5,
                    critique="Fine.\nScore: 3/5", process_score=3.0, outcome_score=1.2)
        node.evaluation = Evaluation("failed", 3, 4, [TestResult(f"t{j}", "passed" if j else "failed", "assert 1 == 2")
                                                      for j in range(4)], runtime_s=0.001 * i)
        tree.add(node)
    return tree


class TableApp(App):
    CSS = "NodeTable { width: 1fr; } NodeDetail { width: 1fr; }"

    def __init__(self, tree: SearchTree):
        super().__init__()
        self.search_tree = tree
        self.task_ = Task(id="t", problem="p", entry_point="f")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield NodeTable()
            yield NodeDetail()

    def on_mount(self) -> None:
        table = self.query_one(NodeTable)
        for node in self.search_tree:
            table.upsert(node)
        table.mark_best(self.search_tree)

    def on_data_table_row_highlighted(self, event) -> None:
        self.query_one(NodeDetail).show(self.search_tree.get(event.row_key.value))


async def measure(nodes: int, moves: int) -> tuple[list[float], list[float]]:
    """Per move: cursor move + row-highlight handling (detail pane) + redraw, waited for
    with `pilot.pause()`; and `pilot.pause()` alone, whose own cost is subtracted."""
    app = TableApp(make_tree(nodes))
    moved, idle = [], []
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(NodeTable)
        table.focus()
        await pilot.pause()
        for i in range(moves):
            started = time.perf_counter()
            await pilot.pause()
            idle.append(time.perf_counter() - started)
            started = time.perf_counter()
            table.action_cursor_down() if i < moves // 2 else table.action_cursor_up()
            await pilot.pause()
            moved.append(time.perf_counter() - started)
    return moved, idle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--moves", type=int, default=100)
    args = ap.parse_args()
    moved, idle = asyncio.run(measure(args.nodes, args.moves))
    base = statistics.median(idle) * 1000
    ms = sorted(t * 1000 - base for t in moved)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{args.nodes} nodes: {statistics.median(ms):.1f} ms per selection move and redraw (median), "
          f"{p95:.1f} ms at the 95th percentile, over {args.moves} moves "
          f"(the test harness's own wait, {base:.1f} ms, subtracted; one frame = 16.7 ms)")


if __name__ == "__main__":
    main()
