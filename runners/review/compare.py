"""Run the tests of every function a change touches on both sides, in the sandbox, and say
per function what the change did: tests fixed, broken and unchanged, and its runtime.

Kept whole because the review's result types and the runs that fill them (both sides, per
function) change together.

Each function's tests are the ones `orps solve` would select for it (`runners.testing.testselect`),
on the changed side and on the base (a test the change adds or removes is in one of them
only). All the selected tests of a side run in one sandboxed pytest run, `repeat` times,
base and changed sides taking turns (so that a busy machine slows both alike). A test's
outcome is its first run's; a test whose outcome differs between runs of the same side is
`flaky` and left out of runtime comparisons. A test's runtime is its call phase as pytest
reports it (`Evaluation.tests[].duration_s`), the minimum over the runs where it passed; a
function's runtime is the sum over its tests that pass on both sides.

Several changes of the same base (`orps review a.diff b.diff`) share the base's runs and
are ranked by tests passed (over every test selected for any of them), then by runtime
(the tests every change passes), then by size (lines added plus removed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from runners.code.locate import Located, LocateError, list_functions, locate
from runners.review.sides import Change, Side
from runners.review.touched import Touched, changed_tests, touched_functions
from runners.target import Target
from search.types import Evaluation, Task, TestResult

SLOWER_RATIO = 1.5
"""A function is `slower` when its tests take at least this many times as long on the
changed side (and `faster` when the base's take this many times as long)..."""
MIN_DIFFERENCE_S = 0.0005
"""...and the difference is at least this much: below it, a busy machine's noise."""


EDITED = ""
"""The key, among the touched functions' test selections, of the tests the change edits."""


class ReviewError(Exception):
    """Nothing can be reviewed (the project's interpreter cannot run pytest, for one)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass
class TestChange:
    __test__ = False  # not a pytest test class

    id: str
    status: str
    """fixed, broken, passing, failing, skipped, new_passing, new_failing, removed, not_run."""
    base: str | None
    """The outcome on the base (passed, failed, error, skipped), None when the test is not there."""
    changed: str | None
    base_message: str = ""
    changed_message: str = ""
    base_s: float | None = None
    changed_s: float | None = None
    flaky: bool = False


@dataclass
class FunctionReview:
    path: str
    qualname: str
    kind: str
    """added, changed or removed."""
    verdict: str
    """broken, fixed, passing, failing, untested (no test selected), tests_removed."""
    speed: str
    """slower, faster, same, unknown (no test passes on both sides)."""
    tests: list[TestChange] = field(default_factory=list)
    base_runtime_s: float | None = None
    changed_runtime_s: float | None = None

    @property
    def target(self) -> str:
        return str(Target(self.path, self.qualname))

    def count(self, *statuses: str) -> int:
        return sum(1 for t in self.tests if t.status in statuses)


@dataclass
class ChangeReview:
    name: str
    base: str
    changed: str
    files: list[str]
    deleted: list[str]
    diff: str
    size: int
    functions: list[FunctionReview]
    notes: list[str]
    tests_changed: list[str]
    """Test files the change modifies: a pass is only as good as the tests."""
    passed: int = 0
    total: int = 0
    runtime_s: float | None = None
    """Of the tests every reviewed change passes (the ranking's second key)."""
    isolation: str = ""
    runtime_tests: int = 0
    """How many tests `runtime_s` sums."""
    edited_tests: list[TestChange] = field(default_factory=list)
    """The tests the change adds or edits, run on both sides like the functions' tests."""

    @property
    def broken(self) -> bool:
        return any(f.verdict == "broken" for f in self.functions) or any(
            t.status in ("broken", "new_failing") for t in self.edited_tests
        )


@dataclass
class Review:
    changes: list[ChangeReview]
    ranking: list[int]
    """Indices into `changes`, best first."""
    repeat: int

    @property
    def best(self) -> ChangeReview:
        return self.changes[self.ranking[0]]

    def to_dict(self) -> dict:
        out = asdict(self)
        for doc, change in zip(out["changes"], self.changes):
            doc["broken"] = change.broken
            for fdoc, f in zip(doc["functions"], change.functions):
                fdoc["target"] = f.target
        return out


# ---------------------------------------------------------------------------- test ids


def _test_names(root: Path, rel: str) -> set[str] | None:
    """`name` and `Class::name` for every function and method of a test file (None when
    the file is not there)."""
    path = root / rel
    if not path.is_file():
        return None
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except (SyntaxError, ValueError):
        return set()  # it is there, pytest will say why it cannot collect it
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(f"{node.name}::{item.name}")
    return names


def test_exists(root: Path, node_id: str) -> bool:
    """Whether the test `node_id` (parameters aside) is defined under `root`."""
    rel, _, name = node_id.split("[")[0].partition("::")
    names = _test_names(Path(root), rel)
    if names is None:
        return False
    return not name or name in names or not names  # a file that does not parse: let pytest say so


def _covers(selected: str, result: str) -> bool:
    return result == selected or result.startswith((selected + "[", selected + "::"))


# ---------------------------------------------------------------------------- runs


@dataclass
class _Runs:
    """One side's runs: per test id, the outcomes, messages and passing durations."""

    outcomes: dict[str, list[str]] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    durations: dict[str, list[float]] = field(default_factory=dict)
    isolation: str = ""
    ran: bool = False

    def add(self, ev) -> None:
        self.ran = True
        self.isolation = ev.isolation or self.isolation
        for t in ev.tests:
            self.outcomes.setdefault(t.id, []).append(t.outcome)
            if t.outcome != "passed" and t.id not in self.messages:
                self.messages[t.id] = (t.message or "").strip()
            if t.outcome == "passed":
                self.durations.setdefault(t.id, []).append(t.duration_s)
        if not ev.tests and ev.message:  # nothing reported per test: the run's own message
            self.messages.setdefault("", ev.message.strip())

    def results(self, selected: str) -> list[str]:
        return [r for r in self.outcomes if _covers(selected, r)]

    def outcome(self, result: str) -> str:
        return self.outcomes[result][0]

    def flaky(self, result: str) -> bool:
        return len({o == "passed" for o in self.outcomes[result]}) > 1

    def seconds(self, result: str) -> float | None:
        d = self.durations.get(result)
        return min(d) if d else None


def _anchor(side: Side, wanted: list[tuple[str, str]], files: list[str]) -> Located | None:
    """A function that exists on `side`, to hold the sandbox run's place as its target: the
    first of `wanted` (path, qualname) found there, else any function of a changed file."""
    for rel, name in wanted:
        try:
            return locate(side.root, str(Target(rel, name)))
        except (LocateError, OSError):
            continue
    from runners.testing.prepare import is_test_file

    # A change of the tests alone: any function of the project holds the place.
    for rel in [*files, *_python_files(side.root)]:
        if rel.endswith(".py") and not is_test_file(rel) and (side.root / rel).is_file():
            try:
                for info in list_functions(side.root / rel):
                    return locate(side.root, str(Target(rel, info.qualname)))
            except (LocateError, OSError, UnicodeDecodeError, ValueError):
                continue
    return None


def _python_files(root: Path):
    """The project's Python files, lazily, never inside what no copy of it holds (.venv, .git...)."""
    import os

    from runners.project.files import skip_name

    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not skip_name(d) and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".py"):
                yield Path(here, name).relative_to(root).as_posix()


def side_task(side: Side, anchor: Located, tests: list[str]) -> Task:
    target = str(Target(anchor.path, anchor.qualname))
    return Task(
        id=f"review:{side.label}",
        problem="",
        entry_point=anchor.qualname,
        kind="project",
        signature=anchor.signature,
        original_code=anchor.source,
        target=target,
        project=str(side.root),
        tests=list(tests),
    )


async def _run_side(evaluator, side: Side, anchor: Located | None, tests: list[str], runs: _Runs) -> None:
    if anchor is None or not tests:
        return
    from runners.testing.verdict import ENV_UNUSABLE

    # The anchor's whole file as it is on this side: the run is this side's files exactly,
    # whatever the splice of the anchor's own text would reformat.
    exact = {anchor.path: (side.root / anchor.path).read_text()}
    cannot_import: list[TestResult] = []
    while True:
        ev = await evaluator.evaluate(side_task(side, anchor, tests), anchor.source, files=exact)
        if ev.verdict == "error" and (ev.message or "").startswith(ENV_UNUSABLE):
            first, _, hint = ev.message.partition("\n")
            raise ReviewError(first[len(ENV_UNUSABLE) :].strip(), hint.strip())
        broken = dict(_COLLECTION_ERROR.findall(ev.message or ""))
        # A test file that cannot be imported on this side (it imports a function the change
        # removed, say) stops pytest before any test runs: its tests fail with that error,
        # and the others run again without it.
        gone = [t for t in tests if any(_in_file(t, where) for where in broken)]
        if not gone:
            break
        cannot_import += [
            TestResult(t, "error", f"cannot be imported: {error.strip()}")
            for where, error in broken.items()
            for t in gone
            if _in_file(t, where)
        ]
        tests = [t for t in tests if t not in gone]
        if not tests:
            ev = Evaluation(verdict="error", isolation=ev.isolation)
            break
    ev.tests = [*cannot_import, *ev.tests]
    runs.add(ev)


_COLLECTION_ERROR = re.compile(r"^collection error in (\S+): (.*)$", re.M)
"""How `runners.testing.evaluator` names a test file pytest could not import."""


def _in_file(node_id: str, where: str) -> bool:
    path = node_id.split("::")[0]
    return path == where or path.startswith(where.rstrip("/") + "/") or where in (".", "")


# ---------------------------------------------------------------------------- verdicts


def _status(base: str | None, changed: str | None) -> str:
    if base is None and changed is None:
        return "not_run"
    if base is None:
        return "new_passing" if changed == "passed" else "new_failing"
    if changed is None:
        return "removed"
    if changed == "skipped" or base == "skipped":
        return "skipped"
    ok_b, ok_c = base == "passed", changed == "passed"
    return {(True, True): "passing", (False, False): "failing", (False, True): "fixed", (True, False): "broken"}[
        (ok_b, ok_c)
    ]


def _test_changes(
    selected: list[str], on_base: set[str], on_changed: set[str], base: _Runs, changed: _Runs
) -> list[TestChange]:
    out: dict[str, TestChange] = {}
    for sel in selected:
        ids = list(
            dict.fromkeys(
                [*(base.results(sel) if sel in on_base else []), *(changed.results(sel) if sel in on_changed else [])]
            )
        ) or [sel]
        for rid in ids:
            b = base.outcome(rid) if sel in on_base and rid in base.outcomes else None
            c = changed.outcome(rid) if sel in on_changed and rid in changed.outcomes else None
            if b is None and c is None and (sel in on_base or sel in on_changed):
                status = "not_run"
            else:
                status = _status(b, c)
            out[rid] = TestChange(
                rid,
                status,
                b,
                c,
                base.messages.get(rid, "") if b not in (None, "passed") else "",
                changed.messages.get(rid, "") if c not in (None, "passed") else "",
                base.seconds(rid) if b == "passed" else None,
                changed.seconds(rid) if c == "passed" else None,
                (b is not None and base.flaky(rid)) or (c is not None and changed.flaky(rid)),
            )
    return list(out.values())


def function_verdict(tests: list[TestChange]) -> str:
    statuses = {t.status for t in tests}
    if not tests:
        return "untested"
    if statuses & {"broken", "new_failing"}:
        return "broken"
    if "fixed" in statuses:
        return "fixed"
    if statuses <= {"removed", "not_run"}:
        return "tests_removed" if "removed" in statuses else "untested"
    if statuses & {"passing", "new_passing"}:
        return "passing" if "failing" not in statuses else "failing"
    return "failing" if "failing" in statuses else "untested"


def speed(tests: list[TestChange]) -> tuple[str, float | None, float | None]:
    """(slower/faster/same/unknown, base seconds, changed seconds) over the tests passing on
    both sides, flaky ones left out."""
    both = [
        t for t in tests if t.status == "passing" and not t.flaky and t.base_s is not None and t.changed_s is not None
    ]
    if not both:
        return "unknown", None, None
    b, c = sum(t.base_s or 0.0 for t in both), sum(t.changed_s or 0.0 for t in both)  # (both: neither is None)
    if c - b >= MIN_DIFFERENCE_S and c >= b * SLOWER_RATIO:
        return "slower", b, c
    if b - c >= MIN_DIFFERENCE_S and b >= c * SLOWER_RATIO:
        return "faster", b, c
    return "same", b, c


# ---------------------------------------------------------------------------- the review


def _selected(touched: Touched, base: Side, changed: Side) -> list[str]:
    from runners.testing.testselect import NoTestsFound, select_tests

    chosen: list[str] = []
    for root, located in ((changed.root, touched.changed), (base.root, touched.base)):
        if located is None:
            continue
        try:
            chosen += select_tests(root, located).node_ids
        except (NoTestsFound, OSError):
            pass
    return list(dict.fromkeys(chosen))


async def review_changes(
    changes: list[Change],
    evaluator,
    *,
    repeat: int = 3,
    say: Callable[[str], None] = lambda line: None,
    tests: list[str] | None = None,
) -> Review:
    """Review `changes` (all of the same base) with `evaluator` (a SandboxEvaluator).
    `tests`, when given, are every function's tests instead of the selection."""
    from runners.testing.prepare import is_test_file

    if not changes:
        raise ReviewError("nothing to review")
    base = changes[0].base
    per_change: list[tuple[list[Touched], list[str], dict[str, list[str]]]] = []
    for change in changes:
        touched, untouched = touched_functions(base.root, change.changed.root, change.files)
        selected = {t.target: (list(tests) if tests else _selected(t, base, change.changed)) for t in touched}
        notes = [f"{u.path}: {u.why}" for u in untouched]
        edited = [] if tests else changed_tests(base.root, change.changed.root, change.files)
        if edited:
            selected[EDITED] = edited
        per_change.append((touched, notes, selected))
        n = len(set(x for ids in selected.values() for x in ids))
        say(
            f"{change.name}: {_count(len(change.files), 'file')} changed, {_count(len(touched), 'function')} "
            f"touched, {_count(n, 'test')} selected"
        )
    every = list(dict.fromkeys(x for _, _, sel in per_change for ids in sel.values() for x in ids))
    on_base = {x for x in every if test_exists(base.root, x)}
    on_changed = [{x for x in every if test_exists(c.changed.root, x)} for c in changes]
    wanted = [(t.path, t.qualname) for touched, _, _ in per_change for t in touched]
    all_files = list(dict.fromkeys(f for c in changes for f in c.files))
    base_anchor = _anchor(base, wanted, all_files)
    anchors = [_anchor(c.changed, wanted, c.files) for c in changes]
    base_runs, changed_runs = _Runs(), [_Runs() for _ in changes]
    base_tests = [x for x in every if x in on_base]
    for n in range(max(1, repeat)):
        # Later runs only for timing: a side with no passing test has nothing to time.
        if n == 0 or base_runs.durations:
            await _run_side(evaluator, base, base_anchor, base_tests, base_runs)
        for change, anchor, runs, present in zip(changes, anchors, changed_runs, on_changed):
            if n == 0 or runs.durations:
                await _run_side(evaluator, change.changed, anchor, [x for x in every if x in present], runs)
        say(f"run {n + 1}/{max(1, repeat)} of the tests on the base and {len(changes)} changed side(s) done")
    reviews = []
    for change, (touched, notes, selected), runs, present in zip(changes, per_change, changed_runs, on_changed):
        functions = []
        for t in touched:
            tchanges = _test_changes(selected[t.target], on_base, present, base_runs, runs)
            pace, b_s, c_s = speed(tchanges)
            functions.append(
                FunctionReview(t.path, t.qualname, t.kind, function_verdict(tchanges), pace, tchanges, b_s, c_s)
            )
        tests_changed = sorted(f for f in change.files if is_test_file(f))
        edited_changes = (
            _test_changes(selected[EDITED], on_base, present, base_runs, runs) if EDITED in selected else []
        )
        if not touched:
            notes.append("the change touches no function outside the tests")
        review = ChangeReview(
            change.name,
            base.label,
            change.changed.label,
            change.files,
            change.deleted,
            change.diff,
            change.size,
            functions,
            notes,
            tests_changed,
            isolation=runs.isolation or base_runs.isolation,
            edited_tests=edited_changes,
        )
        ids = [r for sel in every if sel in present for r in runs.results(sel)]
        review.passed = sum(1 for r in ids if runs.outcome(r) == "passed")
        review.total = len(ids)
        reviews.append(review)
    common = _passing_everywhere(every, on_changed, changed_runs)
    for review, runs in zip(reviews, changed_runs):
        times = [runs.seconds(r) for r in common]
        review.runtime_s = sum(t for t in times if t is not None) if common else None
        review.runtime_tests = len(common)
    return Review(reviews, rank(reviews), max(1, repeat))


def _clearly_faster(a: float | None, b: float | None) -> bool:
    """Runtime `a` beats `b` by more than a busy machine's noise (the thresholds of `speed`)."""
    if a is None or b is None:
        return False
    return b - a >= MIN_DIFFERENCE_S and b >= a * SLOWER_RATIO


def rank(reviews: list[ChangeReview]) -> list[int]:
    """Indices of `reviews`, best first: more tests passed, then clearly less runtime (a
    difference within the noise thresholds is a tie), then fewer lines changed, then the
    order given."""
    from functools import cmp_to_key

    def cmp(i: int, j: int) -> int:
        a, b = reviews[i], reviews[j]
        if a.passed != b.passed:
            return -1 if a.passed > b.passed else 1
        if _clearly_faster(a.runtime_s, b.runtime_s):
            return -1
        if _clearly_faster(b.runtime_s, a.runtime_s):
            return 1
        if a.size != b.size:
            return -1 if a.size < b.size else 1
        return -1 if i < j else (1 if i > j else 0)

    return sorted(range(len(reviews)), key=cmp_to_key(cmp))


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _passing_everywhere(every: list[str], present: list[set[str]], runs: list[_Runs]) -> list[str]:
    ids = None
    for have, r in zip(present, runs):
        passing = {
            rid
            for sel in every
            if sel in have
            for rid in r.results(sel)
            if r.outcome(rid) == "passed" and not r.flaky(rid)
        }
        ids = passing if ids is None else ids & passing
    return sorted(ids or ())
