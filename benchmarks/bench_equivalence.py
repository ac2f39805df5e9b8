"""What --goal faster's behaviour check and per-call timing cost, beside a plain test run.

On the fixture project (tests/fixtures/faster_project) or any project, for one target:
- a plain test run of the original in the sandbox (what every candidate costs anyway);
- recording: the tests run once with a recorder around the target, then the original is
  replayed on those calls and on the generated inputs to keep what it answers the same twice
  (once per search);
- a replay of one candidate on every kept call (once per candidate that passes the tests);
- the interleaved per-call timing of a candidate against the original (the finalists only);
- in orps's own process: encoding and comparing one call's values.
Each sandboxed figure is the median of `--runs` runs (a new evaluator each run, so nothing
is cached between them).

    python benchmarks/bench_equivalence.py [--runs 3]
        [--project DIR --target path.py::name --candidate FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from orps_tui.taskbuild import build_task
from runners.speed import equivalence
from runners.speed.timing import compare_speed
from runners.testing.evaluator import SandboxEvaluator
from search.types import Task

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faster_project"
FIB_LOOP = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"


def make_task(project: Path, target: str) -> Task:
    """The task `orps solve --goal faster` would build (its test selection included)."""
    task, _ = build_task(project, target, goal="faster", problem_required=False)
    return task


async def one_round(task: Task, candidate: str) -> dict[str, float]:
    plain = Task.from_dict({**task.to_dict(), "goal": "fix"})
    out = {}
    async with SandboxEvaluator() as evaluator:
        started = time.perf_counter()
        ev = await evaluator.evaluate(plain, task.original_code)
        out["plain test run of the original"] = time.perf_counter() - started
        assert ev.all_passed, ev.message
        started = time.perf_counter()
        rec = await equivalence.checker(evaluator).recording(task)
        out["recording (tests + the original's replays)"] = time.perf_counter() - started
        out["calls kept"] = len(rec.replayable)
        started = time.perf_counter()
        report = await equivalence.checker(evaluator).check(task, candidate)
        out["replay of one candidate"] = time.perf_counter() - started
        out["same"] = report.same
        started = time.perf_counter()
        speed = await compare_speed(evaluator, task, candidate)
        out["interleaved timing of one candidate"] = time.perf_counter() - started
        out["speedup"] = speed.get("speedup")
    return out


def in_process(repeat: int = 2000) -> dict[str, float]:
    value = [3, 1, 3, 2, 1] * 4
    node = equivalence.encode(value)
    started = time.perf_counter()
    for _ in range(repeat):
        equivalence.encode(value)
    enc = (time.perf_counter() - started) / repeat
    started = time.perf_counter()
    for _ in range(repeat):
        equivalence.same_value(node, node)
    cmp = (time.perf_counter() - started) / repeat
    return {"encode a 20-int list": enc, "compare it": cmp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--project", default=str(FIXTURE))
    parser.add_argument("--target", default="src/speedy/core.py::fib")
    parser.add_argument("--candidate", help="a file with the candidate's source (default: an iterative fib)")
    args = parser.parse_args()
    project = Path(args.project).resolve()
    task = make_task(project, args.target)
    candidate = Path(args.candidate).read_text() if args.candidate else FIB_LOOP
    rounds = [asyncio.run(one_round(task, candidate)) for _ in range(args.runs)]
    print(
        f"{args.target}: {len(task.tests)} tests, {rounds[0]['calls kept']} calls kept "
        f"(same: {rounds[0]['same']}, speed-up {rounds[0]['speedup']}x), median of {args.runs} runs"
    )
    for key in rounds[0]:
        if key in ("calls kept", "same", "speedup"):
            continue
        values = [r[key] for r in rounds]
        print(f"  {key:<45} {statistics.median(values):7.2f} s   ({min(values):.2f}-{max(values):.2f})")
    for key, value in in_process().items():
        print(f"  in orps's process: {key:<26} {value * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
