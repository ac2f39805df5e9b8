"""The cost of a confirmation run beside a normal check, side by side in one process.

    python benchmarks/bench_confirm.py [--repeats 10] [--cold]

The sample project's slugify tests (3 tests), a dataset task (3 asserts) and a dataset
test that calls the target 5000 times (what one call across the boundary costs), each with
a correct candidate: a normal evaluation (`SandboxEvaluator.evaluate`) and a confirmation
run (`SandboxEvaluator.confirm`: the tests' sandbox plus the candidate's sandbox, joined
by a socket) take turns, in alternating order, so load on the machine hits both alike.
Prints the medians, their ratio, and what confirmation adds to one proposal. A search
confirms once per proposal (the best candidate; the next only when that fails), so this
is added once to a search, not once per candidate.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from runners.testing.evaluator import SandboxEvaluator
from search.types import Task

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample_project"
SLUGIFY = "import re\n\ndef slugify(title):\n    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n"


def tasks(root: Path) -> dict[str, tuple[Task, str]]:
    project = root / "proj"
    shutil.copytree(SAMPLE, project)
    tests = [f"tests/test_words.py::test_slugify_{name}" for name in ("simple", "punctuation", "runs")]
    return {
        "project (sample, 3 tests)": (
            Task(
                id="p",
                problem="",
                entry_point="slugify",
                kind="project",
                target="src/textkit/words.py::slugify",
                project=str(project),
                tests=tests,
            ),
            SLUGIFY,
        ),
        "dataset (3 asserts)": (
            Task(
                id="d", problem="", entry_point="f", tests=["assert f(2) == 4", "assert f(-3) == 9", "assert f(0) == 0"]
            ),
            "def f(x):\n    return x * x\n",
        ),
        # what one crossing costs: a test that calls the target 5000 times
        "dataset (1 test, 5000 calls)": (
            Task(id="c", problem="", entry_point="f", tests=["for i in range(5000):\n    assert f(i) == i * i"]),
            "def f(x):\n    return x * x\n",
        ),
    }


async def main(repeats: int, warm: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-confirm-"))
    try:
        async with SandboxEvaluator(timeout_s=60, warm=warm) as evaluator:
            for name, (task, code) in tasks(root).items():
                # once each first: the warm worker, the project's snapshot
                assert (await evaluator.evaluate(task, code)).all_passed
                assert (await evaluator.confirm(task, code)).status == "confirmed"
                normal, confirm = [], []
                for i in range(repeats):
                    order = [("normal", normal), ("confirm", confirm)]
                    for kind, into in order if i % 2 == 0 else order[::-1]:
                        started = time.perf_counter()
                        if kind == "normal":
                            ok = (await evaluator.evaluate(task, code)).all_passed
                        else:
                            ok = (await evaluator.confirm(task, code)).status == "confirmed"
                        into.append(time.perf_counter() - started)
                        assert ok, kind
                n, c = statistics.median(normal), statistics.median(confirm)
                print(f"{name}  ({'warm' if warm else 'cold'} worker, {repeats} runs each)")
                print(
                    f"  normal check        {n * 1000:7.0f} ms median  ({min(normal) * 1000:.0f}-{max(normal) * 1000:.0f})"
                )
                print(
                    f"  confirmation run    {c * 1000:7.0f} ms median  ({min(confirm) * 1000:.0f}-{max(confirm) * 1000:.0f})"
                    f"  {c / n:.2f}x the normal check, +{(c - n) * 1000:.0f} ms per proposal"
                )
                if "calls" in name:
                    print(f"  per call across the boundary: {(c - n) / 5000 * 1e6:.0f} us (median difference / 5000)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--cold", action="store_true", help="no warm worker (each pytest process starts cold)")
    args = ap.parse_args()
    asyncio.run(main(args.repeats, not args.cold))
