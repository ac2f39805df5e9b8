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

It then measures a live search's redraw: with that tree on screen, one new node arrives
at a time, as the search screen handles it (the row added, the tree marks and the ★
updated, the rows put in tree order), and prints the CPU time per arrival and redraw.

The tree has the search's shape: 20 nodes a round, each a child of one of the previous
round's first 3 (a beam of 3), so rows are indented under their parents.

    python benchmarks/bench_tui.py [--nodes 500] [--moves 100] [--arrivals 50]
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


def make_node(i: int) -> Node:
    """Node i of the tree: 20 a round, children of the previous round's first 3 (the beam)."""
    parent = f"{i // 20 - 1}-{i % 3}" if i >= 20 else None
    node = Node(
        id=f"{i // 20}-{i % 20}",
        parent=parent,
        round=i // 20,
        style="efficient",
        reasoning="Because. " * 40,
        code=f"def f(x):\n    return x + {i}\n" * 5,
        critique="Fine.\nScore: 3/5",
        process_score=3.0,
        outcome_score=1.2,
    )
    node.evaluation = Evaluation(
        "failed",
        3,
        4,
        [TestResult(f"t{j}", "passed" if j else "failed", "assert 1 == 2") for j in range(4)],
        runtime_s=0.001 * i,
    )
    return node


def make_tree(n: int) -> SearchTree:
    tree = SearchTree()
    for i in range(n):
        tree.add(make_node(i))
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
        self.query_one(NodeTable).fill(self.search_tree)

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


async def measure_arrivals(nodes: int, arrivals: int) -> dict[str, list[float]]:
    """Per arriving node: CPU seconds of handling it as the search screen does, and of a
    `pilot.pause()` alone just before it."""
    tree = make_tree(nodes)
    app = TableApp(tree)
    times: dict[str, list[float]] = {"moved_cpu": [], "idle_cpu": []}
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(NodeTable)
        await pilot.pause()
        for i in range(nodes, nodes + arrivals):
            started = time.process_time()
            await pilot.pause()
            times["idle_cpu"].append(time.process_time() - started)
            started = time.process_time()
            node = make_node(i)
            tree.add(node)
            table.upsert(node)
            table.mark_tree(tree)  # the screen does this once a round; here on every node (the worst case)
            table.mark_best(tree)
            await pilot.pause()
            times["moved_cpu"].append(time.process_time() - started)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--arrivals", type=int, default=50)
    args = ap.parse_args()
    times = asyncio.run(measure(args.nodes, args.moves))

    def net(kind: str) -> tuple[float, float, float]:
        base = statistics.median(times[f"idle{kind}"]) * 1000
        ms = sorted(t * 1000 - base for t in times[f"moved{kind}"])
        return statistics.median(ms), ms[int(len(ms) * 0.95) - 1], base

    cpu, cpu_p95, cpu_base = net("_cpu")
    wall, wall_p95, wall_base = net("")
    print(
        f"{args.nodes} nodes, {args.moves} moves: {cpu:.1f} ms CPU per selection move and redraw (median), "
        f"{cpu_p95:.1f} ms at the 95th percentile (a pause's own {cpu_base:.1f} ms CPU subtracted; "
        f"one frame = 16.7 ms)"
    )
    print(
        f"  wall clock the earlier way: {wall:.1f} ms median, {wall_p95:.1f} ms p95 (a pause's own "
        f"{wall_base:.1f} ms subtracted; quantised to the pilot's 20 ms idle windows)"
    )
    times = asyncio.run(measure_arrivals(args.nodes, args.arrivals))
    cpu, cpu_p95, cpu_base = net("_cpu")
    print(
        f"{args.nodes} nodes, {args.arrivals} arriving one at a time: {cpu:.1f} ms CPU per new node and redraw "
        f"(median), {cpu_p95:.1f} ms at the 95th percentile (tree order, marks and ★ updated; a pause's own "
        f"{cpu_base:.1f} ms subtracted; one frame = 16.7 ms)"
    )


if __name__ == "__main__":
    main()
