"""Which tests reach which of the project's functions, found by running the suite once.

Static selection (`runners.testing.testselect`) sees the calls a test writes and follows
callers two levels up; a helper that the public API reaches through a longer way (tomlkit's
`escape_string`, under `String.from_raw`, under `item`, under `dumps`) gets only some of the
tests that run it. The reach map is the run's own answer: the project's whole suite, run
once in the sandbox with the project's code as it is (`runners/speed/_orps_reach.py`), says
for each test which of the project's functions ran. It is kept in orps's cache (never in
the project), with the size and mtime of every Python file of the project when it was made;
`load` returns it with the files changed since (a map from before an edit still names the
tests that reached a function; `orps check --map` makes it again).

It only ever adds tests to a selection, and only tests that still exist: what decides a
verdict never comes from it, and no candidate ever runs in the suite that makes it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

MAP_TIMEOUT_S = 900.0
"""The whole suite's time limit when the map is made (one run, once in a while)."""
FORMAT = 1


@dataclass
class ReachMap:
    project: str
    made: str
    """When the suite ran (local time, ISO 8601 to the second)."""
    stamps: dict[str, list[int]]
    """Every Python file of the project then: relative path -> [size, mtime_ns]."""
    functions: dict[str, dict[str, list[str]]]
    """File -> function qualname -> the tests (node ids without parameters) that ran it."""
    tests: int = 0
    """How many tests ran."""
    durations: dict[str, float] = field(default_factory=dict)
    """Test (node id without parameters) -> seconds it took, traced (all its parameters)."""
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)
    """Python files changed, added or removed since (set by `load`)."""

    def tests_reaching(self, rel: str, qualname: str) -> list[str]:
        return list(self.functions.get(rel, {}).get(qualname, []))

    def expected_s(self, node_ids: list[str]) -> float:
        """How long these tests took when the map was made (0 for tests it does not know)."""
        return sum(self.durations.get(_without_parameters(n), 0.0) for n in set(node_ids))

    def summary(self) -> str:
        stale = f"; {len(self.changed)} Python files changed since" if self.changed else ""
        return f"reach map of {self.made}{stale}"


def map_file(project: Path) -> Path:
    from runners.project.env import cache_dir

    key = hashlib.sha256(str(Path(project).resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "reach" / f"{key}.json"


def python_stamps(project: Path, rules=None) -> dict[str, list[int]]:
    from runners.project.files import ProjectFiles

    listing = (rules or ProjectFiles(project)).walk()
    return {rel: [size, mtime] for rel, (size, mtime) in listing.files.items() if rel.endswith(".py")}


def load(project: Path, rules=None) -> ReachMap | None:
    """The project's map (with the files changed since), or None when there is none or it
    cannot be read."""
    path = map_file(project)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or data.get("project") != str(Path(project).resolve()):
            return None
        fields = ("project", "made", "stamps", "functions", "tests", "seconds", "durations")
        reach = ReachMap(**{name: data[name] for name in fields})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    now = python_stamps(project, rules)
    reach.changed = sorted(rel for rel in set(now) | set(reach.stamps) if now.get(rel) != reach.stamps.get(rel))
    return reach


def save(reach: ReachMap) -> Path:
    path = map_file(Path(reach.project))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    data = {"format": FORMAT, **{k: v for k, v in reach.__dict__.items() if k != "changed"}}
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return path


class MapError(Exception):
    """The suite could not be run to make the map (said in one sentence)."""


async def build(evaluator, task, test_paths: list[str], timeout_s: float = MAP_TIMEOUT_S) -> ReachMap:
    """Run the suite (`test_paths`) once with `task`'s project as it is, and save its map."""
    from runners.speed.equivalence import run_harness
    from runners.testing.prepare import kept_addopts

    project = Path(task.project).resolve()
    stamps = python_stamps(project)
    started = time.monotonic()
    args = ["--", "-o", "addopts=" + kept_addopts(project), "-o", "console_output_style=classic", "--tb=no"]
    records, run, _ = await run_harness(
        evaluator,
        replace(task, tests=list(test_paths)),
        task.original_code,
        "_orps_reach.py",
        [*args, *test_paths],
        "ORPS_REACH_FD",
        timeout_s=timeout_s,
    )
    if not any(r.get("type") == "finish" for r in records):
        why = f"it ran past {timeout_s:.0f} s" if run.timed_out else (run.stderr or run.stdout).strip()[-300:]
        raise MapError(f"the test suite did not finish: {why}")
    seconds = time.monotonic() - started
    where: dict[int, tuple[str, int, str]] = {}
    reached: dict[tuple[str, int, str], set[str]] = {}
    count = 0
    durations: dict[str, float] = {}
    for record in records:
        if record.get("type") == "function":
            where[record["id"]] = (record["file"], record["line"], record["name"])
        elif record.get("type") == "test":
            count += 1
            test = _without_parameters(record["test"])
            durations[test] = round(durations.get(test, 0.0) + float(record.get("seconds", 0.0)), 4)
            for number in record["functions"]:
                reached.setdefault(where[number], set()).add(test)
    functions: dict[str, dict[str, list[str]]] = {}
    names = _QualnamesByLine(project)
    for (rel, line, name), tests in reached.items():
        qualname = names.at(rel, line, name)
        if qualname:
            bucket = functions.setdefault(rel, {}).setdefault(qualname, [])
            bucket[:] = sorted(set(bucket) | tests)
    made = time.strftime("%Y-%m-%dT%H:%M:%S")
    reach = ReachMap(str(project), made, stamps, functions, tests=count, seconds=round(seconds, 2), durations=durations)
    save(reach)
    return reach


def _without_parameters(node_id: str) -> str:
    path, sep, names = node_id.partition("::")  # parameters may hold "::" themselves
    return f"{path}{sep}{names.split('[', 1)[0]}"


class _QualnamesByLine:
    """The qualname of the function whose code starts at a line (its `def` or its first
    decorator: `co_firstlineno` is the decorator's), from the files as they are now; nested
    functions are left out (they run only inside the function that holds them)."""

    def __init__(self, project: Path):
        self.project = project
        self.files: dict[str, dict[int, tuple[str, str]]] = {}

    def at(self, rel: str, line: int, name: str) -> str | None:
        if rel not in self.files:
            self.files[rel] = self._read(rel)
        found = self.files[rel].get(line)
        return found[0] if found and found[1] == name else None

    def _read(self, rel: str) -> dict[int, tuple[str, str]]:
        try:
            tree = ast.parse((self.project / rel).read_text(errors="replace"))
        except (OSError, SyntaxError, ValueError, RecursionError):
            return {}
        lines: dict[int, tuple[str, str]] = {}

        def visit(body: list[ast.stmt], prefix: str) -> None:
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for line in [node.lineno, *(d.lineno for d in node.decorator_list)]:
                        lines[line] = (prefix + node.name, node.name)
                elif isinstance(node, ast.ClassDef):
                    visit(node.body, prefix + node.name + ".")
                elif isinstance(node, (ast.If, ast.Try, ast.With)):
                    for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                        visit(block, prefix)
                    for handler in getattr(node, "handlers", []):
                        visit(handler.body, prefix)

        visit(tree.body, "")
        return lines
