"""Benchmarks: strategies over a dataset, judged on hidden tests (`orps bench` is the CLI).

- `run`: one problem's search and judgement (`solve_problem`), many of them (`BenchRun`),
  and the reference check;
- `report`: totals, the JSON report, the table, the plot and progress lines;
- `ray`: the same run with each problem a Ray task (imported only with `--ray`);
- `datasets`: the benchmark CSVs as asserts tasks (`load_dataset`).
"""

from runners.bench.report import Progress, plot, report, table, totals, write_report
from runners.bench.run import BenchConfig, BenchRun, ProblemResult, check_references, solve_problem

__all__ = [
    "BenchConfig",
    "BenchRun",
    "ProblemResult",
    "Progress",
    "check_references",
    "plot",
    "report",
    "solve_problem",
    "table",
    "totals",
    "write_report",
]
