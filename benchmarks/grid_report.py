"""The report of a benchmark grid's finished cells while the grid is still running (or was
stopped): the same table, Wilson intervals and plot `orps bench` writes at its end, from
the results files in its --out directory, without running anything.

    python benchmarks/grid_report.py --out DIR [--report-dir DIR] -- <the grid's orps bench options>

The options after `--` are the grid's own (dataset, strategies, budgets, seeds), so the
report counts the same cells the grid would: a cell not finished yet counts as missing,
never as a failure, and a configuration with no finished cell is left out of the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orps_tui.cli import build_parser  # noqa: E402
from orps_tui.commands.bench import grid_configs  # noqa: E402
from runners.bench.datasets import load_dataset  # noqa: E402
from runners.bench.report import report, table, write_report  # noqa: E402
from runners.bench.run import BenchRun  # noqa: E402


def main() -> None:
    argv = sys.argv[1:]
    ours, grid = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the grid's --out directory (its results files)")
    parser.add_argument("--report-dir", default="", help="where report.json and pass_at_1.svg go (default --out)")
    args = parser.parse_args(ours)
    bench_args = build_parser().parse_args(["bench", *grid, "--out", args.out])
    tasks = load_dataset(bench_args.dataset, limit=bench_args.limit or None, ids=bench_args.ids)
    configs = grid_configs(bench_args)
    run = BenchRun(tasks, configs, evaluator=None, out=Path(args.out), resume=True)  # type: ignore[arg-type]
    done = run.restored()
    by_config: dict = {c.key: [] for c in configs}
    for result in done:
        for c in configs:
            if c.strategy == result.strategy and c.budget_calls == result.budget_calls and c.seed == result.seed:
                by_config[c.key].append(result)
    cells_total = len(configs) * len(tasks)
    started = [c for c in configs if by_config[c.key]]  # a configuration with no finished cell is left out
    doc = report(
        by_config,
        started,
        {
            "dataset": str(bench_args.dataset),
            "model": bench_args.model,
            "cells_done": len(done),
            "cells_total": cells_total,
        },
    )
    target = Path(args.report_dir or args.out)
    target.mkdir(parents=True, exist_ok=True)
    problem = write_report(doc, target, target / "pass_at_1.svg")
    print(f"{len(done)} of {cells_total} cells finished ({len(tasks)} problems x {len(configs)} configurations)")
    print(table(doc))
    print(f"report: {target / 'report.json'}" + (f"; {problem}" if problem else f"; plot: {target / 'pass_at_1.svg'}"))


if __name__ == "__main__":
    main()
