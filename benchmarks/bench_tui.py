"""TUI responsiveness: with a 500-node search tree on screen, the time per selection move.

Builds 500 evaluated nodes, shows them in the search screen's table and detail pane
headless, and moves the cursor down and up, waiting for each redraw with `pilot.pause()`
(which returns once the app's CPU is idle, so every message, layout and paint the move
caused is done). Per move it prints the CPU time the move cost: CPU time of the move
and its pause, minus the CPU time of a pause alone (median; one frame at 60 Hz is
16.7 ms). CPU time, because the machine it runs on is shared.

It also prints the wall-clock figure earlier versions reported (wall time of move and
pause minus wall time of a pause alone). `pause` waits in 20 ms windows until a window
has less than 1 ms of CPU, so that figure is about one 20 ms window for any move that
costs more than 1 ms: it cannot tell 5 ms of work from 15.

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


async def measure(nodes: int, moves: int) -> dict[str, list[float]]:
    """Per move: wall and CPU seconds of cursor move + `pilot.pause()`, and of a
    `pilot.pause()` alone just before it (the waiting's own cost, subtracted)."""
    app = TableApp(make_tree(nodes))
    times: dict[str, list[float]] = {"moved": [], "idle": [], "moved_cpu": [], "idle_cpu": []}
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(NodeTable)
        table.focus()
        await pilot.pause()
        for i in range(moves):
            started, started_cpu = time.perf_counter(), time.process_time()
            await pilot.pause()
            times["idle"].append(time.perf_counter() - started)
            times["idle_cpu"].append(time.process_time() - started_cpu)
            started, started_cpu = time.perf_counter(), time.process_time()
            table.action_cursor_down() if i < moves // 2 else table.action_cursor_up()
            await pilot.pause()
            times["moved"].append(time.perf_counter() - started)
            times["moved_cpu"].append(time.process_time() - started_cpu)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--moves", type=int, default=100)
    args = ap.parse_args()
    times = asyncio.run(measure(args.nodes, args.moves))

    def net(kind: str) -> tuple[float, float, float]:
        base = statistics.median(times[f"idle{kind}"]) * 1000
        ms = sorted(t * 1000 - base for t in times[f"moved{kind}"])
        return statistics.median(ms), ms[int(len(ms) * 0.95) - 1], base

    cpu, cpu_p95, cpu_base = net("_cpu")
    wall, wall_p95, wall_base = net("")
    print(f"{args.nodes} nodes, {args.moves} moves: {cpu:.1f} ms CPU per selection move and redraw (median), "
          f"{cpu_p95:.1f} ms at the 95th percentile (a pause's own {cpu_base:.1f} ms CPU subtracted; "
          f"one frame = 16.7 ms)")
    print(f"  wall clock the earlier way: {wall:.1f} ms median, {wall_p95:.1f} ms p95 (a pause's own "
          f"{wall_base:.1f} ms subtracted; quantised to the pilot's 20 ms idle windows)")


if __name__ == "__main__":
    main()
