"""Which tests exercise the target, when the user does not say.

Test files (pytest's defaults: `test_*.py`, `*_test.py`, under `testpaths` when the
project sets them) are scanned statically with `ast`, never imported: collecting with
pytest would run the project's conftest and test modules outside the sandbox, and write
`__pycache__` into the user's project.

A test function (or a test method of a `Test*` class or a `unittest.TestCase`) is
selected when its body (or its class's fixtures/helpers) uses the target:
- a function `func`: the name `func` (or the alias it was imported as), or `mod.func`;
- a method `Class.method`: `.method` on something, or `Class.method`, in a file that
  imports or names `Class`.
Matches in files that import the target's module (or a package above it) come first;
only when there are none do name-only matches count (a re-export we cannot see).
`-k EXPR` filters with pytest's own keyword-expression parser. The tests' source goes to
the model with the problem (`Task.tests_source`).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

SOURCE_LIMIT = 6000
"""Characters of test source shown to the model; more is cut with a note."""


class NoTestsFound(Exception):
    """No test uses the target (or none matches -k); the CLI turns it into exit 2."""


@dataclass
class Selection:
    node_ids: list[str]
    """pytest node ids relative to the project root."""
    source: str
    """The selected tests' source, each headed by `# <node id>` (for the model)."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each test was selected (shown by `orps check` and the TUI)."""


def _testpaths(project: Path) -> list[Path]:
    """`[tool.pytest.ini_options] testpaths`, when set; else the whole project."""
    pyproject = project / "pyproject.toml"
    if pyproject.is_file():
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            options = tomllib.loads(pyproject.read_text()).get("tool", {}).get("pytest", {}).get("ini_options", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            options = {}
        paths = options.get("testpaths") if isinstance(options, dict) else None
        if isinstance(paths, list) and paths:
            found = [project / p for p in paths if isinstance(p, str) and (project / p).exists()]
            if found:
                return found
    return [project]


def test_files(project: Path) -> list[Path]:
    """The project's test files, sorted."""
    from runners.projectfiles import ProjectFiles

    project = Path(project)
    rules = ProjectFiles(project)  # the one ignore list: never walks .git, venvs, .gitignore'd paths
    out: set[Path] = set()
    for root in _testpaths(project):
        if root.is_file():
            candidates = [root]
        else:
            start = root.resolve().relative_to(rules.project).as_posix() if root.resolve() != rules.project else ""
            candidates = [project / rel for rel in rules.walk(start).files if rel.endswith(".py")]
        for path in candidates:
            rel = path.relative_to(project)
            if any(part.startswith(".") for part in rel.parts[:-1]):
                continue
            if path.name.startswith("test_") or path.name.endswith("_test.py"):
                out.add(path)
    return sorted(out)


test_files.__test__ = False  # a function named test_*: pytest must not collect it where imported


def _module_name(rel_path: str) -> str:
    """`src/textkit/words.py` -> `textkit.words` (a `src/` layout is not part of the name)."""
    parts = list(Path(rel_path).with_suffix("").parts)
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@dataclass
class _Target:
    name: str
    cls: str | None
    module: str

    def module_matches(self, imported: str) -> bool:
        """True when `imported` is the target's module, a package above it, or its tail
        (`words` for `textkit.words`, when tests put the package dir on sys.path)."""
        mod = self.module
        return bool(imported) and (mod == imported or mod.startswith(imported + ".") or mod.endswith("." + imported))


def _file_context(tree: ast.Module, target: _Target) -> tuple[bool, set[str], set[str]]:
    """(imports the target's module?, local names bound to the target, names bound to the module)."""
    wanted = target.cls or target.name
    related, names, modules = False, {wanted}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if alias.name in (wanted, "*") and target.module_matches(node.module):
                    related = True  # from pkg.mod import func / from pkg import func (re-export)
                    names.add(alias.asname or alias.name)
                elif dotted == target.module or target.module.endswith("." + dotted):
                    related = True  # from pkg import mod
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom):  # relative: tests inside the package
            for alias in node.names:
                if alias.name == wanted:
                    related = True
                    names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == target.module or target.module.endswith("." + alias.name):
                    related = True
                    modules.add(alias.asname or alias.name)
    return related, names, modules


def _uses(node: ast.AST, target: _Target, names: set[str], modules: set[str], file_names_class: bool) -> str:
    """A short reason when `node` uses the target, else ''."""
    for sub in ast.walk(node):
        if target.cls is None:
            if isinstance(sub, ast.Name) and sub.id in names:
                return f"calls {sub.id}"
            if isinstance(sub, ast.Attribute) and sub.attr == target.name:
                owner = sub.value
                dotted = []
                while isinstance(owner, ast.Attribute):
                    dotted.append(owner.attr)
                    owner = owner.value
                if isinstance(owner, ast.Name) and (owner.id in modules or (dotted and dotted[0] in modules)):
                    return f"calls {ast.unparse(sub)}"
        elif isinstance(sub, ast.Attribute) and sub.attr == target.name and file_names_class:
            return f"uses {target.cls}.{target.name}"
    return ""


def _tests_in(tree: ast.Module):
    """(node id suffix, test node, enclosing class or None) of each test pytest would collect."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            yield node.name, node, None
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test") or any(
                (isinstance(b, ast.Name) and b.id.endswith("TestCase")) or
                (isinstance(b, ast.Attribute) and b.attr.endswith("TestCase")) for b in node.bases)):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    yield f"{node.name}::{item.name}", item, node


def _keyword_filter(node_ids: list[str], k: str) -> list[str]:
    """pytest's -k: substring matches (case-insensitive) against the names in the node id."""
    from _pytest.mark.expression import Expression

    try:
        expression = Expression.compile(k)
    except Exception as err:  # pytest's ParseError: report it as the user's mistake
        raise NoTestsFound(f"bad -k expression {k!r}: {err}") from None

    def matches(node_id: str) -> bool:
        path, *names = node_id.split("::")
        parts = [p.lower() for p in [Path(path).name, *Path(path).parts[:-1], *names]]

        def matcher(name: str, **kwargs) -> bool:
            return any(name.lower() in part for part in parts)

        return expression.evaluate(matcher)

    return [n for n in node_ids if matches(n)]


def _given(node_id: str, rel: str, tests: list[str]) -> bool:
    for t in tests:
        t = t.rstrip("/")
        if node_id == t or node_id.startswith(t + "::") or node_id.startswith(t + "[") or rel == t \
                or rel.startswith(t + "/") or t in (".", ""):
            return True
    return False


def select_tests(project: Path, located, tests: list[str] | None = None, k: str | None = None) -> Selection:
    """The tests for `located` (a `runners.locate.Located`): the ones given with `tests`
    (node ids, files or directories), else the ones that use the target; then `-k`."""
    project = Path(project)
    if tests:
        for t in tests:
            path = t.split("::")[0].rstrip("/")
            if not (project / path).exists():
                raise NoTestsFound(f"no test file or directory {path} in {project}")
    cls, _, name = located.qualname.rpartition(".")
    target = _Target(name, cls.split(".")[0] if cls else None, _module_name(located.path))
    strong: list[tuple[str, str, str]] = []  # (node id, source, reason)
    weak: list[tuple[str, str, str]] = []
    for path in test_files(project):
        rel = path.relative_to(project).as_posix()
        try:
            text = path.read_text(errors="replace")
            tree = ast.parse(text)
        except (SyntaxError, ValueError, OSError):
            continue
        related, names, modules = _file_context(tree, target)
        file_names_class = target.cls is not None and any(
            isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))
        for suffix, node, owner in _tests_in(tree):
            node_id = f"{rel}::{suffix}"
            source = ast.get_source_segment(text, node) or ""
            if tests:
                if _given(node_id, rel, tests):
                    strong.append((node_id, source, "given with --tests"))
                continue
            reason = _uses(node, target, names, modules, file_names_class)
            if not reason and owner is not None:  # setUp / helper methods of the test class
                helpers = [n for n in owner.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                           and not n.name.startswith("test")]
                reason = next((r for r in (_uses(h, target, names, modules, file_names_class) for h in helpers) if r), "")
            if reason:
                (strong if related else weak).append((node_id, source, f"{reason} ({rel} imports {target.module})"
                                                      if related else reason))
    chosen = strong or weak
    if tests and not chosen:
        # Ids we cannot see statically (generated tests, plugins): let pytest decide.
        chosen = [(t, "", "given with --tests") for t in tests]
    if k:
        keep = set(_keyword_filter([c[0] for c in chosen], k))
        chosen = [c for c in chosen if c[0] in keep]
    if not chosen:
        where = f" matching -k {k!r}" if k else ""
        given = " among the given tests" if tests else ""
        raise NoTestsFound(f"no tests{where}{given} in {project} use {located.qualname}")
    parts = [f"# {node_id}\n{source}" for node_id, source, _ in chosen if source]
    source = "\n\n".join(parts)
    if len(source) > SOURCE_LIMIT:
        source = source[:SOURCE_LIMIT] + "\n# ... more tests not shown"
    return Selection([c[0] for c in chosen], source, {c[0]: c[2] for c in chosen})
