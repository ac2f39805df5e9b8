"""Benchmark datasets (LBPP, HumanEval, MBPP in the ORPS paper's layout) as `Task`s.

A dataset directory holds `dev.csv` (public tests: the search may see and run them) and
`test.csv` (hidden tests: only the final judgement runs them), with the same rows.
Columns: task_id, instruction, completion (reference), test_setup, test_list (a Python
list literal of assert snippets); LBPP adds signature. The candidate is a whole module;
LBPP's setup imports it as `code`, which we rename to `solution` so that the standard
library's `code` module is never shadowed.
"""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

from search.types import Task

CANARY_IDS = {"lbpp/41"}
"""Rows that exist to detect training-set contamination, not to be solved."""

csv.field_size_limit(1 << 30)


def _read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["task_id"]: row for row in csv.DictReader(f)}


def _asserts(row: dict[str, str]) -> list[str]:
    value = ast.literal_eval(row["test_list"])
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"{row['task_id']}: test_list is not a list of strings")
    return value


def _called_names(tests: list[str]) -> list[str]:
    names: list[str] = []
    for test in tests:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in names:
                names.append(node.func.id)
    return names


def _defined_names(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.findall(r"^def\s+(\w+)", code, re.M)
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def entry_point(row: dict[str, str], tests: list[str]) -> str:
    """The function the tests call: from LBPP's signature, else the reference's definitions
    that the tests use (MBPP's name is only visible there)."""
    signature = row.get("signature", "")
    match = re.search(r"def\s+(\w+)", signature)
    if match:
        return match.group(1)
    defined = _defined_names(row.get("completion", ""))
    for name in _called_names(tests):
        if name in defined:
            return name
    if defined:
        return defined[-1]
    called = _called_names(tests)
    if called:
        return called[0]
    raise ValueError(f"{row['task_id']}: cannot tell which function the tests call")


def _setup(text: str) -> str:
    return re.sub(r"^(\s*)from\s+code\s+import\b", r"\1from solution import", text or "", flags=re.M)


def load_dataset(path: str | Path, limit: int | None = None, ids: list[str] | None = None) -> list[Task]:
    """Tasks of a dataset directory, in file order; `ids` selects, `limit` keeps the first N."""
    root = Path(path)
    dev_path, test_path = root / "dev.csv", root / "test.csv"
    for p in (dev_path, test_path):
        if not p.is_file():
            raise ValueError(f"{p} is missing")
    dev, hidden = _read(dev_path), _read(test_path)
    wanted = set(ids) if ids else None
    if wanted:
        unknown = wanted - dev.keys()
        if unknown:
            raise ValueError(f"unknown task ids: {', '.join(sorted(unknown))}")
    tasks = []
    for task_id, row in dev.items():
        if task_id in CANARY_IDS or (wanted and task_id not in wanted):
            continue
        public = _asserts(row)
        hidden_row = hidden.get(task_id, row)
        hidden_tests = _asserts(hidden_row)
        signature = row.get("signature", "").strip()
        tasks.append(
            Task(
                id=task_id,
                problem=row["instruction"].strip(),
                entry_point=entry_point(row, public + hidden_tests),
                kind="asserts",
                signature=signature,
                tests=public,
                tests_source="\n".join(public),
                test_setup=_setup(row.get("test_setup", "")),
                hidden_tests=hidden_tests,
                reference_code=row.get("completion", ""),
            )
        )
        if limit and len(tasks) >= limit:
            break
    return tasks
