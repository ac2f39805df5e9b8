"""The live search tree's redraw: CPU ms per arrival at 100 and 500 nodes, this checkout's
`NodeTable` beside the one of an earlier commit, in one run.

With the tree on screen (the search's shape: 20 nodes a round, each a child of one of the
previous round's first 3), given the search's plan as the search screen gives it (before
any node: `NodeTable.reserve`, where the table has it), nodes arrive and are handled as
the search screen handles them (row added in tree order, the ★ updated; where the table
can hold what arrives within a frame, `show_later` and then the `flush` its frame timer
calls), then the tree's marks (on every arrival, where the screen marks once a round: the
worst case). They arrive one at a time, then `--burst` together (a batch of samples
finishing at once: one redraw for all of them where the table holds them). The CPU time
of that and of the redraw it causes (`pilot.pause()` returns once the app is idle) is
taken, minus a pause's own. The earlier `NodeTable` is read from git
(`orps_tui/widgets/nodes.py` at `--before`) and loaded as a module of its own, so both run
in the same process on the same machine load. One frame at 60 Hz is 16.7 ms.

    python benchmarks/bench_tree_redraw.py [--before 9369a4b] [--arrivals 30] [--nodes 100 500] [--burst 8]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App, ComposeResult

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).parent), str(ROOT)]  # this checkout's orps_tui, not an installed one
from bench_tui import make_node, make_tree  # noqa: E402

from orps_tui.widgets import nodes as current  # noqa: E402


def module_at(ref: str):
    """`orps_tui/widgets/nodes.py` as it was at git `ref`, imported under another name."""
    text = subprocess.run(
        ["git", "show", f"{ref}:orps_tui/widgets/nodes.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "nodes_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("nodes_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TreeApp(App):
    CSS = "DataTable { width: 1fr; }"

    def __init__(self, table_class, tree, plan):
        super().__init__()
        self.table_class, self.search_tree, self.plan = table_class, tree, plan

    def compose(self) -> ComposeResult:
        yield self.table_class()

    def on_mount(self) -> None:
        table = self.query_one(self.table_class)
        if hasattr(table, "reserve"):  # an earlier NodeTable may not take the plan
            table.reserve(self.plan)
        table.fill(self.search_tree)


def arrive(table, tree, nodes: list) -> None:
    """`nodes` arriving together, handled as the search screen handles them: each shown
    (where the table can wait for the next frame: `show_later`, then its `flush` at that
    frame; an earlier table shows each at once), the ★ updated, then the tree's marks."""
    for node in nodes:
        tree.add(node)
        if hasattr(table, "show_later"):
            table.show_later(node, tree)
        else:
            table.upsert(node)
            table.mark_best(tree)
    if hasattr(table, "flush"):
        table.flush()  # what the frame's timer calls
    table.mark_tree(tree)


async def per_arrival(table_class, nodes: int, arrivals: int, burst: int = 1) -> tuple[float, float]:
    """(median, 95th percentile) CPU ms per arrival of `burst` nodes together and its redraw."""
    tree = make_tree(nodes)
    # the plan event's data for make_node's shape: 20 fresh samples, then rounds of 20
    # (beam 3, 7 children each: 21 a round, names as wide as 20's) up to the last arrival
    plan = {"strategy": "orps", "start": "fresh", "samples": 20, "beam": 3, "children_each": 7}
    plan["rounds"] = (nodes + arrivals * burst - 1) // 20
    app = TreeApp(table_class, tree, plan)
    idle, moved = [], []
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(table_class)
        await pilot.pause()
        for i in range(nodes, nodes + arrivals * burst, burst):
            started = time.process_time()
            await pilot.pause()
            idle.append(time.process_time() - started)
            started = time.process_time()
            arrive(table, tree, [make_node(j) for j in range(i, i + burst)])
            await pilot.pause()
            moved.append(time.process_time() - started)
    base = statistics.median(idle)
    ms = sorted((t - base) * 1000 for t in moved)
    return statistics.median(ms), ms[max(0, int(len(ms) * 0.95) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="9369a4b", help="the git commit to compare with")
    ap.add_argument("--arrivals", type=int, default=30)
    ap.add_argument("--nodes", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--burst", type=int, default=8, help="nodes arriving together (a batch of samples); 0: none")
    args = ap.parse_args()
    before = module_at(args.before)
    print(f"CPU ms per arrival and its redraw (median / p95); before = {args.before}, after = this checkout")
    print(f"{'nodes':>6}  {'arriving':>9}  {'before':>17}  {'after':>17}")
    bursts = [1] + ([args.burst] if args.burst > 1 else [])
    for n in args.nodes:
        for burst in bursts:
            # interleaved, so that a change in the machine's load hits both
            count = args.arrivals if burst == 1 else max(10, args.arrivals // burst)
            b = asyncio.run(per_arrival(before.NodeTable, n, count, burst))
            a = asyncio.run(per_arrival(current.NodeTable, n, count, burst))
            what = "1 node" if burst == 1 else f"{burst} nodes"
            print(f"{n:>6}  {what:>9}  {b[0]:7.1f} / {b[1]:6.1f}  {a[0]:7.1f} / {a[1]:6.1f}")


if __name__ == "__main__":
    main()
