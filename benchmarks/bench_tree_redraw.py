"""The live search tree's redraw: CPU ms per arriving node at 100 and 500 nodes, this
checkout's `NodeTable` beside the one of an earlier commit, in one run.

With the tree on screen (the search's shape: 20 nodes a round, each a child of one of the
previous round's first 3), given the search's plan as the search screen gives it (before
any node: `NodeTable.reserve`, where the table has it), one node arrives at a time and is handled as the search screen
handles it (row added in tree order, the tree marks and the ★ updated; the marks on every
node, where the screen does it once a round: the worst case); the CPU time of that and of
the redraw it causes (`pilot.pause()` returns once the app is idle) is taken, minus a
pause's own. The earlier `NodeTable` is read from git (`orps_tui/widgets/nodes.py` at
`--before`) and loaded as a module of its own, so both run in the same process on the
same machine load. One frame at 60 Hz is 16.7 ms.

    python benchmarks/bench_tree_redraw.py [--before 9369a4b] [--arrivals 30] [--nodes 100 500]
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_tui import make_node, make_tree  # noqa: E402

from orps_tui.widgets import nodes as current  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


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


async def per_arrival(table_class, nodes: int, arrivals: int) -> tuple[float, float]:
    """(median, 95th percentile) CPU ms per arriving node and its redraw."""
    tree = make_tree(nodes)
    # the plan event's data for make_node's shape: 20 fresh samples, then rounds of 20
    # (beam 3, 7 children each: 21 a round, names as wide as 20's) up to the last arrival
    plan = {"strategy": "orps", "start": "fresh", "samples": 20, "beam": 3, "children_each": 7}
    plan["rounds"] = (nodes + arrivals - 1) // 20
    app = TreeApp(table_class, tree, plan)
    idle, moved = [], []
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(table_class)
        await pilot.pause()
        for i in range(nodes, nodes + arrivals):
            started = time.process_time()
            await pilot.pause()
            idle.append(time.process_time() - started)
            started = time.process_time()
            node = make_node(i)
            tree.add(node)
            table.upsert(node)
            table.mark_tree(tree)
            table.mark_best(tree)
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
    args = ap.parse_args()
    before = module_at(args.before)
    print(f"CPU ms per arriving node and its redraw (median / p95); before = {args.before}, after = this checkout")
    print(f"{'nodes':>6}  {'before':>17}  {'after':>17}")
    for n in args.nodes:
        # interleaved, so that a change in the machine's load hits both
        b = asyncio.run(per_arrival(before.NodeTable, n, args.arrivals))
        a = asyncio.run(per_arrival(current.NodeTable, n, args.arrivals))
        print(f"{n:>6}  {b[0]:7.1f} / {b[1]:6.1f}  {a[0]:7.1f} / {a[1]:6.1f}")


if __name__ == "__main__":
    main()
