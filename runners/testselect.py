"""Which tests exercise the target, when the user does not say.

Test files (`test_*.py`, `*_test.py`) are scanned with `ast`: a test function (or a
`test_*` method of a `Test*` class) is selected when its body names the target (the
function, or for a method the method or its class). `-k EXPR` filters with pytest's own
keyword-expression parser. The tests' source goes to the model with the problem.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = {".git", ".venv", "venv", "env", ".tox", ".nox", "node_modules", ".orps", "__pycache__", "build", "dist"}
SOURCE_LIMIT = 6000


class NoTestsFound(Exception):
    pass


@dataclass
class Selection:
    node_ids: list[str]
    source: str
    reasons: dict[str, str] = field(default_factory=dict)


def test_files(project: Path) -> list[Path]:
    out = []
    for path in sorted(project.rglob("*.py")):
        rel = path.relative_to(project)
        if any(part in SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if path.name.startswith("test_") or path.name.endswith("_test.py"):
            out.append(path)
    return out


def _names_in(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
    return names


def _tests_in(tree: ast.Module):
    """(node id suffix, ast node) of each test function and test method."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    yield f"{node.name}::{item.name}", item


def _keyword_filter(node_ids: list[str], k: str) -> list[str]:
    from _pytest.mark.expression import Expression

    try:
        expression = Expression.compile(k)
    except Exception as err:  # pytest's ParseError: report it as the user's mistake
        raise NoTestsFound(f"bad -k expression {k!r}: {err}") from None

    def matches(node_id: str) -> bool:
        parts = [p.lower() for p in node_id.replace(".py", "").replace("/", "::").split("::")]

        def matcher(name: str, **kwargs) -> bool:
            return any(name.lower() in part for part in parts)

        return expression.evaluate(matcher)

    return [n for n in node_ids if matches(n)]


def select_tests(project: Path, located, tests: list[str] | None = None, k: str | None = None) -> Selection:
    project = Path(project)
    name = located.qualname.rsplit(".", 1)[-1]
    wanted = {name} | ({located.qualname.split(".")[0]} if "." in located.qualname else set())
    module = Path(located.path).stem
    chosen: list[str] = []
    sources: list[str] = []
    reasons: dict[str, str] = {}
    for path in test_files(project):
        rel = path.relative_to(project).as_posix()
        text = path.read_text(errors="replace")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for suffix, node in _tests_in(tree):
            node_id = f"{rel}::{suffix}"
            if tests is not None:
                if not any(node_id == t or node_id.startswith(t.rstrip("/") + "::") or rel.startswith(t.rstrip("/") + "/")
                           for t in tests):
                    continue
                reasons[node_id] = "given with --tests"
            elif not (_names_in(node) & wanted):
                continue
            else:
                reasons[node_id] = f"uses {', '.join(sorted(_names_in(node) & wanted))} (from {module})"
            chosen.append(node_id)
            sources.append(f"# {node_id}\n" + (ast.get_source_segment(text, node) or ""))
    if tests is not None and not chosen:
        chosen = list(tests)  # ids we could not see statically (parametrized, generated): let pytest decide
    if k:
        chosen = _keyword_filter(chosen, k)
        sources = [s for s in sources if s.splitlines()[0][2:] in chosen]
    if not chosen:
        where = f" matching -k {k!r}" if k else ""
        raise NoTestsFound(f"no tests{where} in {project} use {located.qualname}")
    source = "\n\n".join(sources)
    if len(source) > SOURCE_LIMIT:
        source = source[:SOURCE_LIMIT] + "\n# ... more tests not shown"
    return Selection(chosen, source, reasons)
