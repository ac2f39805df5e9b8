"""orps on real libraries and their own test suites: verdicts, round trips and time against plain pytest.

For each library (an sdist downloaded from PyPI at benchmark time into the cache dir,
never into the repository) the runner makes a virtualenv as its contributors would
(`.venv/` in the project: the library installed editable with its test dependencies),
then for each function:

1. orps's test selection (`runners.testing.testselect`, as `orps check` does it);
2. plain pytest in the library's venv on those test ids: each test's outcome, through a
   tiny plugin (passed / failed / error / skipped; an xfail counts as skipped, as pytest
   reports it), and its wall time;
3. `orps check --target ... --json` from the project directory (orps installed in its
   own environment, the project's venv activated, as a user runs it): each test's outcome
   and the wall time;
4. the round trip: the function's own source as `--candidate` to `orps check`: each
   test's outcome again.

A test agrees when orps gives it the outcome pytest gives it; a test pytest ran and orps
did not report disagrees ("missing"). The table goes to stdout (and --json to a file).
`--before CHECKOUT` also times `orps check` from another checkout of orps (PYTHONPATH),
alternating with this one, and adds its time and ratio to each row; `--repeats N` times
pytest and each `orps check` N times (the medians go in the table).

    python benchmarks/bench_corpus.py [--cache-dir ~/.cache/orps-corpus] [--libs humanize toolz ...]
                                      [--limit N] [--json out.json] [--before CHECKOUT] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Each library: the sdist (name==version, pinned so the figures can be reproduced), the
# test dependencies its contributors install, what its tests look like, and the functions.
LIBRARIES: dict[str, dict] = {
    "more-itertools": {
        "sdist": "more-itertools==11.2.1",
        "test_deps": ["pytest"],
        "shape": "unittest.TestCase classes, flat layout",
        "targets": [
            "more_itertools/more.py::chunked",
            "more_itertools/more.py::first",
            "more_itertools/more.py::ilen",
            "more_itertools/more.py::interleave_longest",
            "more_itertools/more.py::split_at",
            "more_itertools/more.py::always_iterable",
            "more_itertools/recipes.py::take",
            "more_itertools/recipes.py::all_equal",
        ],
    },
    "toolz": {
        "sdist": "toolz==1.2.0",
        "test_deps": ["pytest"],
        "shape": "plain pytest functions inside the package (toolz/tests)",
        "targets": [
            "toolz/itertoolz.py::groupby",
            "toolz/itertoolz.py::frequencies",
            "toolz/itertoolz.py::partition_all",
            "toolz/itertoolz.py::sliding_window",
            "toolz/itertoolz.py::unique",
            "toolz/itertoolz.py::interpose",
            "toolz/dicttoolz.py::merge",
            "toolz/dicttoolz.py::assoc",
        ],
    },
    "inflection": {
        "sdist": "inflection==0.5.1",
        "test_deps": ["pytest"],
        "shape": "one module and one test file at the root, parametrize-heavy",
        "targets": [
            "inflection/__init__.py::camelize",
            "inflection/__init__.py::underscore",
            "inflection/__init__.py::pluralize",
            "inflection/__init__.py::singularize",
            "inflection/__init__.py::parameterize",
            "inflection/__init__.py::ordinalize",
            "inflection/__init__.py::titleize",
        ],
    },
    "humanize": {
        "sdist": "humanize==4.9.0",
        "test_deps": ["pytest", "freezegun"],
        "shape": "src layout, freezegun and parametrize decorators, a test dependency",
        "targets": [
            "src/humanize/number.py::ordinal",
            "src/humanize/number.py::intcomma",
            "src/humanize/number.py::intword",
            "src/humanize/number.py::apnumber",
            "src/humanize/number.py::fractional",
            "src/humanize/filesize.py::naturalsize",
            "src/humanize/time.py::naturaldelta",
        ],
    },
    "cachetools": {
        "sdist": "cachetools==8.0.3",
        "test_deps": ["pytest"],
        "shape": "src layout, unittest classes, methods and dunders",
        "targets": [
            "src/cachetools/keys.py::hashkey",
            "src/cachetools/keys.py::typedkey",
            "src/cachetools/__init__.py::Cache.__getitem__",
            "src/cachetools/__init__.py::Cache.__init__",
            "src/cachetools/__init__.py::LRUCache.popitem",
            "src/cachetools/__init__.py::LFUCache.popitem",
        ],
    },
    "python-slugify": {
        "sdist": "python-slugify==9.2.0",
        "test_deps": ["pytest"],
        "shape": "a third-party dependency (text-unidecode), unittest classes",
        "targets": [
            "slugify/slugify.py::slugify",
            "slugify/slugify.py::_modern_truncate",
            "slugify/slugify.py::_decode_entities",
        ],
    },
    "boltons": {
        "sdist": "boltons==26.2.0",
        "test_deps": ["pytest"],
        "shape": "plain pytest, flat layout, many modules",
        "targets": [
            "boltons/strutils.py::human_readable_list",
            "boltons/strutils.py::strip_ansi",
            "boltons/strutils.py::parse_int_list",
            "boltons/strutils.py::is_uuid",
            "boltons/iterutils.py::chunked",
            "boltons/iterutils.py::windowed",
            "boltons/iterutils.py::backoff",
        ],
    },
}

OUTCOME_PLUGIN = '''"""Each test's outcome as pytest reports it, written as JSON to $CORPUS_OUT."""
import json
import os

_outcomes = {}


def pytest_runtest_logreport(report):
    if report.when != "call" and report.passed:
        return
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"  # an xfail too, as pytest counts it
    else:
        outcome = "passed"
    if _outcomes.get(report.nodeid) in ("failed", "error"):
        return  # a teardown error does not hide the failure
    _outcomes[report.nodeid] = outcome


def pytest_sessionfinish(session):
    with open(os.environ["CORPUS_OUT"], "w") as f:
        json.dump(_outcomes, f)
'''


@dataclass
class Row:
    library: str
    target: str
    tests: int = 0
    pytest_outcomes: dict[str, str] = field(default_factory=dict)
    orps_outcomes: dict[str, str] = field(default_factory=dict)
    round_trip_outcomes: dict[str, str] = field(default_factory=dict)
    pytest_s: float = 0.0
    orps_s: float = 0.0
    before_s: float = 0.0
    """`orps check` from the `--before` checkout (0: not timed)."""
    error: str = ""
    orps_message: str = ""

    def agree(self, other: dict[str, str]) -> int:
        return sum(1 for t, o in self.pytest_outcomes.items() if other.get(t) == o)

    def disagreements(self, other: dict[str, str]) -> list[str]:
        return [
            f"{t}: pytest {o}, orps {other.get(t, 'missing')}"
            for t, o in self.pytest_outcomes.items()
            if other.get(t) != o
        ]


def run(
    cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 600
) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - start


def fetch(cache: Path, spec: str) -> Path:
    """The sdist `name==version` unpacked under cache/src (downloaded once)."""
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    name, version = spec.split("==")
    stem = f"{name.replace('-', '_')}-{version}"
    for candidate in (f"{stem}.tar.gz", f"{name}-{version}.tar.gz"):
        if (sdists / candidate).exists():
            break
    else:
        proc, _ = run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-q",
                "-d",
                str(sdists),
                spec,
            ],
            cwd=cache,
        )
        if proc.returncode:
            raise RuntimeError(f"pip download {spec} failed: {proc.stderr.strip()[-300:]}")
    archive = next(
        p
        for p in sdists.iterdir()
        if p.name.lower().startswith((stem.lower(), f"{name}-{version}".lower())) and p.name.endswith(".tar.gz")
    )
    src = cache / "src"
    root = src / archive.name[: -len(".tar.gz")]
    if not root.is_dir():
        src.mkdir(exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(src, filter="data")
    return root


def make_venv(root: Path, test_deps: list[str]) -> Path:
    """`root/.venv` with the library installed editable and its test dependencies."""
    venv = root / ".venv"
    python = venv / "bin" / "python"
    if not (venv / ".orps-corpus-ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        proc, _ = run([str(python), "-m", "pip", "install", "-q", "-e", ".", *test_deps], cwd=root)
        if proc.returncode:
            raise RuntimeError(f"installing {root.name} failed: {proc.stderr.strip()[-400:]}")
        (venv / ".orps-corpus-ready").write_text("")
    return python


def selection(root: Path, target: str) -> list[str]:
    from runners.code.locate import locate
    from runners.testing.testselect import select_tests

    return select_tests(root, locate(root, target)).node_ids


def plain_pytest(root: Path, python: Path, ids: list[str], plugin_dir: Path) -> tuple[dict[str, str], float]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = Path(out.name)
    env = {**os.environ, "PYTHONPATH": str(plugin_dir), "CORPUS_OUT": str(out_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc, seconds = run(
        [str(python), "-m", "pytest", "-q", "-p", "corpus_outcomes", "-p", "no:cacheprovider", *ids], cwd=root, env=env
    )
    try:
        outcomes = json.loads(out_path.read_text() or "{}")
    except (OSError, ValueError):
        outcomes = {}
    out_path.unlink(missing_ok=True)
    if not outcomes:
        raise RuntimeError(f"pytest ran no test (exit {proc.returncode}): {proc.stdout.strip()[-300:]}")
    return outcomes, seconds


def orps_check(
    root: Path, venv: Path, target: str, candidate: Path | None = None, checkout: str | None = None
) -> tuple[dict[str, str], float, str]:
    """`orps check --json` run from the project with its venv activated, as a user would
    (`checkout`: that copy of orps first on PYTHONPATH)."""
    orps = Path(sys.executable).parent / "orps"
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    if checkout:
        env["PYTHONPATH"] = checkout
    cmd = [str(orps), "check", "--target", target, "--json"] + (["--candidate", str(candidate)] if candidate else [])
    proc, seconds = run(cmd, cwd=root, env=env)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {}, seconds, lines[-1] if lines else f"exit {proc.returncode}"
    message = doc.get("error") or (doc.get("message", "") if not doc.get("all_passed") else "")
    failures = [_first_error(t.get("message", "")) for t in doc.get("tests", []) if t["outcome"] in ("failed", "error")]
    lines = [line for line in message.strip().splitlines() if line.strip()] or [f for f in failures if f]
    return {t["id"]: t["outcome"] for t in doc.get("tests", [])}, seconds, lines[0] if lines else ""


def _first_error(message: str) -> str:
    """The line of a pytest failure that names it: the first `E ...`, else the last line."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1].strip() if lines else "")


def bench_function(
    library: str,
    root: Path,
    python: Path,
    target: str,
    plugin_dir: Path,
    before: str | None = None,
    repeats: int = 1,
    turn: int = 0,
) -> Row:
    from runners.code.locate import locate

    row = Row(library, target)
    venv = python.parent.parent
    try:
        ids = selection(root, target)
        pytest_times, orps_times, before_times = [], [], []
        for n in range(max(1, repeats)):
            row.pytest_outcomes, seconds = plain_pytest(root, python, ids, plugin_dir)
            pytest_times.append(seconds)
            for which in ("this", "before") if (turn + n) % 2 == 0 else ("before", "this"):
                if which == "this":
                    row.orps_outcomes, seconds, row.orps_message = orps_check(root, venv, target)
                    orps_times.append(seconds)
                elif before:
                    _, seconds, _ = orps_check(root, venv, target, checkout=before)
                    before_times.append(seconds)
        row.pytest_s, row.orps_s = statistics.median(pytest_times), statistics.median(orps_times)
        row.before_s = statistics.median(before_times) if before_times else 0.0
        row.tests = len(row.pytest_outcomes)
        with tempfile.TemporaryDirectory() as tmp:
            own = Path(tmp) / "candidate.py"
            own.write_text(locate(root, target).source + "\n")
            row.round_trip_outcomes, _, _ = orps_check(root, venv, target, own)
    except Exception as err:  # one function's failure is a row of the table, not the end of the run
        row.error = f"{type(err).__name__}: {err}"[:300]
    return row


def table(rows: list[Row]) -> str:
    before = any(r.before_s for r in rows)
    out = [
        "| library | function | tests | pytest | orps = pytest | round trip = pytest | orps check | pytest | ratio |"
        + (" before | before ratio |" if before else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if before else ""),
    ]
    for r in rows:
        if r.error:
            out.append(
                f"| {r.library} | `{r.target.split('::')[1]}` | | error: {r.error[:80]} | | | | | |"
                + (" | |" if before else "")
            )
            continue
        counts = {}
        for o in r.pytest_outcomes.values():
            counts[o] = counts.get(o, 0) + 1
        shown = " ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        ratio = r.orps_s / r.pytest_s if r.pytest_s else 0
        out.append(
            f"| {r.library} | `{r.target.split('::')[1]}` | {r.tests} | {shown} | {r.agree(r.orps_outcomes)}/{r.tests} "
            f"| {r.agree(r.round_trip_outcomes)}/{r.tests} | {r.orps_s:.2f} s | {r.pytest_s:.2f} s | {ratio:.1f}x |"
            + (f" {r.before_s:.2f} s | {r.before_s / r.pytest_s:.1f}x |" if before and r.pytest_s else "")
        )
    ok = [r for r in rows if not r.error]
    tests = sum(r.tests for r in ok)
    agree = sum(r.agree(r.orps_outcomes) for r in ok)
    trip = sum(r.agree(r.round_trip_outcomes) for r in ok)
    full = sum(1 for r in ok if r.agree(r.orps_outcomes) == r.tests)
    full_trip = sum(1 for r in ok if r.agree(r.round_trip_outcomes) == r.tests)
    ratios = [r.orps_s / r.pytest_s for r in ok if r.pytest_s]
    out.append("")
    out.append(
        f"{len(rows)} functions in {len({r.library for r in rows})} libraries ({len(rows) - len(ok)} not run); "
        f"tests agreeing with pytest: {agree}/{tests} ({full}/{len(ok)} functions all agree); "
        f"round trip: {trip}/{tests} ({full_trip}/{len(ok)} functions); "
        f"orps check / pytest time: median {statistics.median(ratios):.1f}x"
        + (
            f" (before: {statistics.median([r.before_s / r.pytest_s for r in ok if r.pytest_s]):.1f}x)"
            if before
            else ""
        )
        if ratios
        else "no function ran"
    )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "orps-corpus",
        help="where sdists, sources and virtualenvs go (outside the repository)",
    )
    ap.add_argument("--libs", nargs="+", choices=sorted(LIBRARIES), default=sorted(LIBRARIES))
    ap.add_argument("--limit", type=int, default=0, help="at most this many functions per library")
    ap.add_argument("--json", type=Path, help="also write every row (outcomes per test) here")
    ap.add_argument("--disagreements", action="store_true", help="list each test orps and pytest disagree on")
    ap.add_argument("--before", help="another checkout of orps: its `orps check` timed beside this one's")
    ap.add_argument("--repeats", type=int, default=1, help="time pytest and each orps check this many times (median)")
    args = ap.parse_args()
    cache = args.cache_dir.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    plugin_dir = cache / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "corpus_outcomes.py").write_text(OUTCOME_PLUGIN)
    rows: list[Row] = []
    for library in args.libs:
        spec = LIBRARIES[library]
        try:
            root = fetch(cache, spec["sdist"])
            python = make_venv(root, spec["test_deps"])
        except Exception as err:
            rows += [Row(library, t, error=f"setup: {err}"[:300]) for t in spec["targets"]]
            continue
        targets = spec["targets"][: args.limit] if args.limit else spec["targets"]
        for target in targets:
            before = str(Path(args.before).resolve()) if args.before else None
            row = bench_function(library, root, python, target, plugin_dir, before, args.repeats, len(rows))
            rows.append(row)
            print(
                f"{library} {target}: {row.tests} tests, orps {row.agree(row.orps_outcomes)}, round trip "
                f"{row.agree(row.round_trip_outcomes)}, {row.orps_s:.2f} s vs {row.pytest_s:.2f} s"
                + (f" (before {row.before_s:.2f} s)" if row.before_s else "")
                + (f" ERROR {row.error}" if row.error else "")
                + (
                    f" ({row.orps_message[:100]})"
                    if row.orps_message and row.agree(row.orps_outcomes) < row.tests
                    else ""
                ),
                file=sys.stderr,
                flush=True,
            )
    print(table(rows))
    if args.disagreements:
        for r in rows:
            if r.error or r.agree(r.orps_outcomes) == r.tests:
                continue
            wrong = r.disagreements(r.orps_outcomes)
            print(
                f"  {r.library} {r.target}: {len(wrong)} tests disagree, e.g. {wrong[0]}; "
                f"orps said: {r.orps_message[:160] or '(nothing)'}"
            )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))


if __name__ == "__main__":
    main()
