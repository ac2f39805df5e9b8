"""One sandboxed evaluation, two checkouts of orps side by side: is a sandbox change slower?

    python benchmarks/bench_sandbox_ab.py ../main . [--repeats 20]

A worker process per checkout (PYTHONPATH pointing at it) evaluates the sample project's
slugify tests on request; the two take turns, in alternating order, so load on the machine
hits both alike. Prints both medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample_project"
WORKER = r"""
import asyncio, shutil, sys, tempfile, time
from pathlib import Path
from runners.testing.evaluator import SandboxEvaluator
from search.types import Task
tests = ["tests/test_words.py::test_slugify_simple", "tests/test_words.py::test_slugify_punctuation",
         "tests/test_words.py::test_slugify_runs"]
code = "import re\n\ndef slugify(title):\n    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n"
project = Path(tempfile.mkdtemp()) / "proj"
shutil.copytree(sys.argv[1], project)
task = Task(id="ab", problem="", entry_point="slugify", kind="project", target="src/textkit/words.py::slugify",
            project=str(project), tests=tests)
evaluator, loop = SandboxEvaluator(), asyncio.new_event_loop()
loop.run_until_complete(evaluator.evaluate(task, code))
print("ready", flush=True)
for _ in sys.stdin:
    started = time.perf_counter()
    verdict = loop.run_until_complete(evaluator.evaluate(task, code)).verdict
    print(f"{time.perf_counter() - started:.4f} {verdict}", flush=True)
evaluator.close()
shutil.rmtree(project.parent, ignore_errors=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", help="checkout of orps to compare against (e.g. ../main)")
    ap.add_argument("after", help="checkout with the change (e.g. .)")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    workers = {}
    for name in ("before", "after"):
        env = dict(os.environ, PYTHONPATH=str(Path(getattr(args, name)).resolve()), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(SAMPLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd="/",
        )
        if proc.stdout.readline().strip() != "ready":
            sys.exit(f"the {name} worker did not start")
        workers[name] = proc
    times: dict[str, list[float]] = {name: [] for name in workers}
    for i in range(args.repeats):
        order = list(workers.items()) if i % 2 == 0 else list(reversed(workers.items()))
        for name, proc in order:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            elapsed, verdict = proc.stdout.readline().split()
            if verdict != "passed":
                sys.exit(f"the {name} worker's evaluation was {verdict}")
            times[name].append(float(elapsed))
    for proc in workers.values():
        proc.stdin.close()
        proc.wait()
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    print(
        f"one evaluation, interleaved, median of {args.repeats}: before {before * 1000:.0f} ms, "
        f"after {after * 1000:.0f} ms -> ratio {after / before:.2f}"
    )


if __name__ == "__main__":
    main()
