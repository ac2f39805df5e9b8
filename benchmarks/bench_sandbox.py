"""Sandbox throughput and overhead on this machine, measured side by side in one run.

For the sample project's slugify tests (3 tests):
- one sandboxed evaluation (copy-on-write workspace, bubblewrap, limits, our plugin; pytest
  in a fork of the warm worker) against plain `python -m pytest` on the same tests in the
  same checkout: the ratio; the cold path (a fresh interpreter per run) beside it;
- evaluations per second through the pool (as many at once as cores), warm and cold.

    python benchmarks/bench_sandbox.py [--repeats 10] [--parallel 16]

With `--sizes 0,20000,100000` it instead measures how the cost grows with the project: the
same project bare and with that many extra small files (a checked-in dataset), side by
side: one evaluation with the snapshot warm, the start of a search (a fresh snapshot plus
the first evaluation), and a whole `orps check` command (median of `--repeats`, at most 5).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runners.sandbox import bwrap as sandbox
from runners.testing.evaluator import SandboxEvaluator
from search.types import Task

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample_project"
TESTS = [
    "tests/test_words.py::test_slugify_simple",
    "tests/test_words.py::test_slugify_punctuation",
    "tests/test_words.py::test_slugify_runs",
]
CANDIDATE = "import re\n\ndef slugify(title):\n    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n"


@contextlib.contextmanager
def read_only_copies():
    """Evaluate as on a machine without overlayfs: a real copy of the project, read-only."""
    real = sandbox.overlay_works
    sandbox.overlay_works = lambda: False
    try:
        yield
    finally:
        sandbox.overlay_works = real


def cpu_seconds(evaluator: SandboxEvaluator) -> float:
    """CPU time of this process, its reaped children (bwrap and all under it) and the warm
    worker with the forks it reaped (which are not ours to wait for)."""
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    worker = evaluator.warm_worker.pid if evaluator.warm_worker else None
    if worker:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def add_files(project: Path, count: int) -> None:
    for i in range(count):
        folder = project / "data" / f"d{i // 500}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"row {i}\n" * 10)


def by_size(sizes: list[int], repeats: int) -> None:
    """Cost against project size, every size measured in turn in each round."""
    from runners.sandbox import workspace

    root = Path(tempfile.mkdtemp())
    projects = {}
    for size in sizes:
        projects[size] = root / f"proj-{size}"
        shutil.copytree(SAMPLE, projects[size])
        add_files(projects[size], size)
    evaluator = SandboxEvaluator()
    loop = asyncio.new_event_loop()

    def evaluate(size: int) -> float:
        task = Task(
            id="bench",
            problem="",
            entry_point="slugify",
            kind="project",
            target="src/textkit/words.py::slugify",
            project=str(projects[size]),
            tests=TESTS,
        )
        started = time.perf_counter()
        ev = loop.run_until_complete(evaluator.evaluate(task, CANDIDATE))
        assert ev.verdict == "passed", ev.message
        return time.perf_counter() - started

    def start(size: int) -> float:
        workspace.SNAPSHOTS.by_project.pop(projects[size].resolve(), None)  # as a new search/app
        return evaluate(size)

    def check(size: int) -> float:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "orps_tui.cli",
                "check",
                "--project",
                str(projects[size]),
                "--target",
                "src/textkit/words.py::slugify",
                "--tests",
                *TESTS,
            ],
            capture_output=True,
            check=False,
        )
        return time.perf_counter() - started

    for size in sizes:
        evaluate(size)  # warm imports
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(min(repeats, 5)):
        for size in sizes:
            for name, fn in (("evaluation", evaluate), ("search start", start), ("orps check", check)):
                times.setdefault((name, size), []).append(fn(size))
    print("extra files " + "".join(f"{size:>12,}" for size in sizes) + f"   (median of {min(repeats, 5)})")
    for name in ("evaluation", "search start", "orps check"):
        row = [statistics.median(times[name, size]) for size in sizes]
        print(
            f"{name:<12}"
            + "".join(f"{t * 1000:>9.0f} ms" for t in row)
            + "   ratios "
            + " ".join(f"{t / row[0]:.2f}" for t in row)
        )
    evaluator.close()
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--sizes", help="comma-separated extra file counts, e.g. 0,20000,100000")
    args = ap.parse_args()
    if args.sizes:
        by_size([int(s) for s in args.sizes.split(",")], args.repeats)
        return
    project = Path(tempfile.mkdtemp()) / "proj"
    shutil.copytree(SAMPLE, project)
    task = Task(
        id="bench",
        problem="",
        entry_point="slugify",
        kind="project",
        target="src/textkit/words.py::slugify",
        project=str(project),
        tests=TESTS,
    )
    evaluator = SandboxEvaluator()
    cold = SandboxEvaluator(warm=False)

    async def sandboxed(ev: SandboxEvaluator = evaluator) -> float:
        started = time.perf_counter()
        result = await ev.evaluate(task, CANDIDATE)
        assert result.verdict == "passed", result.message
        return time.perf_counter() - started

    def plain(same_plugins: bool = True) -> float:
        """Plain pytest on the project itself: with the plugin set the sandbox loads (the fair
        baseline), or with every installed plugin autoloaded (what `pytest` typed by hand does)."""
        env = dict(os.environ)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
        if same_plugins:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
            argv[3:3] = ["-p", "pytest_asyncio.plugin"]
        started = time.perf_counter()
        subprocess.run(argv, cwd=project, check=False, capture_output=True, env=env)
        return time.perf_counter() - started

    loop = asyncio.new_event_loop()
    for ev in (evaluator, cold):  # warm: template copy, imports, the warm worker
        loop.run_until_complete(sandboxed(ev))
    plain()
    first = loop.run_until_complete(evaluator.evaluate(task, CANDIDATE))
    s_times, c_times, p_times, a_times, ro_times = [], [], [], [], []
    for _ in range(args.repeats):  # interleaved, so load on the machine hits all alike
        s_times.append(loop.run_until_complete(sandboxed()))
        p_times.append(plain())
        c_times.append(loop.run_until_complete(sandboxed(cold)))
        a_times.append(plain(same_plugins=False))
        with read_only_copies():
            ro_times.append(loop.run_until_complete(sandboxed()))
    s, c, p, a = (statistics.median(t) for t in (s_times, c_times, p_times, a_times))
    print(f"isolation: {first.isolation}")
    print(
        f"one evaluation: sandboxed {s * 1000:.0f} ms, plain pytest with the same plugins {p * 1000:.0f} ms "
        f"-> ratio {s / p:.2f} (target <= 1.0), median of {args.repeats}"
    )
    print(
        f"  (cold sandboxed run, a fresh interpreter: {c * 1000:.0f} ms -> ratio {c / p:.2f}; "
        f"warm against cold {s / c:.2f})"
    )
    print(f"  (plain pytest autoloading every installed plugin: {a * 1000:.0f} ms -> ratio {s / a:.2f})")
    if sandbox.overlay_works():
        ro = statistics.median(ro_times)
        print(
            f"  (the project as an overlay's lower layer against a real read-only copy: {s * 1000:.0f} ms "
            f"against {ro * 1000:.0f} ms -> {(s - ro) * 1000:+.0f} ms per evaluation)"
        )

    async def pool(ev: SandboxEvaluator) -> tuple[float, float]:
        """Wall seconds for `parallel` evaluations at once, and the CPU seconds they cost."""
        cpu = cpu_seconds(ev)
        started = time.perf_counter()
        results = await asyncio.gather(*(ev.evaluate(task, CANDIDATE) for _ in range(args.parallel)))
        assert all(r.verdict == "passed" for r in results), [r.message for r in results if r.verdict != "passed"]
        return time.perf_counter() - started, cpu_seconds(ev) - cpu

    cold_elapsed, _ = loop.run_until_complete(pool(cold))
    elapsed, cpu = loop.run_until_complete(pool(evaluator))
    cores = os.cpu_count() or 1
    print(
        f"pool: {args.parallel} evaluations in {elapsed:.2f} s on {cores} cores "
        f"-> {args.parallel / elapsed:.1f} evaluations/s (target >= 4); "
        f"cold: {args.parallel / cold_elapsed:.1f} evaluations/s"
    )
    # Cold runs are not counted: bwrap's own init reports the run's exit without a wait, so
    # the pytest process's CPU never reaches our children's rusage.
    print(
        f"  CPU per warm evaluation (orps, bwrap, the worker's fork): {cpu / args.parallel * 1000:.0f} ms "
        f"-> at most {cores * args.parallel / cpu:.1f} evaluations/s on {cores} idle cores"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    evaluator.close()
    cold.close()
    shutil.rmtree(project.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
