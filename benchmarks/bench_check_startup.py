"""One-shot `orps check` beside the project's own pytest, side by side (and an older checkout).

    python benchmarks/bench_check_startup.py PROJECT TARGET [--before CHECKOUT] [--repeats 10] -- TEST_IDS...

Runs, in turn and in alternating order (so load on the machine hits each alike):
- the project's own pytest (`PROJECT/.venv/bin/python -m pytest -q -p no:cacheprovider TEST_IDS`);
- `orps check --target TARGET` from this checkout (PYTHONPATH pointing at it), in PROJECT;
- the same from `--before` (e.g. a worktree of an older commit), when given.
PYTHONDONTWRITEBYTECODE is dropped from the environment, as a user's shell does not set
it. Prints each median and its ratio to pytest. Example (the sample project given a .venv
with pytest only):

    cp -r tests/fixtures/sample_project /tmp/sp && python -m venv /tmp/sp/.venv && /tmp/sp/.venv/bin/pip install pytest
    python benchmarks/bench_check_startup.py /tmp/sp src/textkit/words.py::slugify --before /tmp/before -- \\
        tests/test_words.py::test_slugify_simple tests/test_words.py::test_slugify_punctuation \\
        tests/test_words.py::test_slugify_runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project")
    ap.add_argument("target")
    ap.add_argument("--before", help="another checkout of orps to time the same way")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("tests", nargs="+")
    args = ap.parse_args()
    project = Path(args.project).resolve()
    check = [sys.executable, "-m", "orps_tui.cli", "check", "--target", args.target]
    runs = {
        "project's pytest": (
            [str(project / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.tests],
            {},
        )
    }
    if args.before:
        runs["orps check (before)"] = (check, {"PYTHONPATH": str(Path(args.before).resolve())})
    runs["orps check (this checkout)"] = (check, {"PYTHONPATH": str(HERE)})
    # As a user's shell has it: bytecode written and reused (by pytest's rewritten tests too).
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(args.repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            argv, env = runs[name]
            started = time.perf_counter()
            subprocess.run(argv, cwd=project, env={**base_env, **env}, capture_output=True)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["project's pytest"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28} {median:6.2f} s median ({min(values):.2f}-{max(values):.2f})  {median / base:.2f}x pytest")


if __name__ == "__main__":
    main()
