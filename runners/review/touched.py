"""The functions a change touches: every function and method of the changed Python files
(not test files) found on both sides with tree-sitter (`runners.code.locate`, the same reading
`orps solve --target` uses), compared by their text.

A function is `added` (only on the changed side), `removed` (only on the base) or `changed`
(its text differs, decorators and docstring included). Lines that changed outside every
function (imports, constants, a class attribute) are reported per file, since they can
change what any function of the file does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runners.code.locate import Located, LocateError, list_functions, locate
from runners.target import Target
from runners.testing.prepare import is_test_file


@dataclass
class Touched:
    path: str
    qualname: str
    kind: str
    """`added`, `changed` or `removed`."""
    base: Located | None
    changed: Located | None

    @property
    def target(self) -> str:
        return str(Target(self.path, self.qualname))


@dataclass
class Untouched:
    """A changed file where no function's text accounts for the change (or not all of it)."""

    path: str
    why: str


def _functions(root: Path, rel: str) -> tuple[dict[str, Located], str]:
    """qualname -> Located for every function of `rel` under `root` ({} when the file is not
    there), and why the file could not be read ('' when it could)."""
    path = root / rel
    if not path.is_file():
        return {}, ""
    try:
        names = [f.qualname for f in list_functions(path)]
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return {}, str(err)
    found: dict[str, Located] = {}
    for name in names:
        try:
            found[name] = locate(root, str(Target(rel, name)))
        except LocateError as err:  # a file that does not parse: named once, its functions unknown
            return {}, str(err)
    return found, ""


def _outside(text: str, located: dict[str, Located]) -> list[str]:
    """The file's lines that belong to no function (what is left when every function is cut out)."""
    lines = text.splitlines()
    inside: set[int] = set()
    for loc in located.values():
        inside.update(range(loc.start_line - 1, loc.end_line))
    return [line for n, line in enumerate(lines) if n not in inside and line.strip()]


def touched_functions(base_root: Path, changed_root: Path, files: list[str]) -> tuple[list[Touched], list[Untouched]]:
    """The functions the change of `files` touches, in file order, then line order."""
    touched: list[Touched] = []
    notes: list[Untouched] = []
    for rel in files:
        if not rel.endswith(".py") or is_test_file(rel):
            continue
        before, why_b = _functions(Path(base_root), rel)
        after, why_a = _functions(Path(changed_root), rel)
        for why, side in ((why_b, "base"), (why_a, "changed side")):
            if why:
                notes.append(Untouched(rel, f"cannot be read on the {side}: {why}"))
        in_file = []
        for name in list(after) + [n for n in before if n not in after]:
            b, a = before.get(name), after.get(name)
            if b is not None and a is not None:
                if b.source == a.source:
                    continue
                kind = "changed"
            else:
                kind = "added" if b is None else "removed"
            in_file.append(Touched(rel, name, kind, b, a))
        # A method whose class moved, or a nested change, shows up once per qualname; the
        # outer definition (a class is not a function here) never hides its methods.
        in_file.sort(key=lambda t: (t.changed or t.base).start_line)  # type: ignore[union-attr]  # one side at least
        touched.extend(in_file)
        old_text = (Path(base_root) / rel).read_text(errors="replace") if (Path(base_root) / rel).is_file() else ""
        new_text = (
            (Path(changed_root) / rel).read_text(errors="replace") if (Path(changed_root) / rel).is_file() else ""
        )
        if not why_a and not why_b and _outside(old_text, before) != _outside(new_text, after):
            notes.append(
                Untouched(
                    rel,
                    "lines outside any function changed (imports, constants, classes): "
                    "they can change what every function of the file does",
                )
            )
    return touched, notes


def _test_sources(path: Path) -> dict[str, str]:
    """node id suffix (`name` or `Class::name`) -> source text of every test function of a
    test file (pytest's default naming: `test*` functions, `test*` methods of `Test*` classes)."""
    import ast

    if not path.is_file():
        return {}
    try:
        text = path.read_text(errors="replace")
        tree = ast.parse(text)
    except (SyntaxError, ValueError, OSError):
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            out[node.name] = ast.get_source_segment(text, node) or ""
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    out[f"{node.name}::{item.name}"] = ast.get_source_segment(text, item) or ""
    return out


def changed_tests(base_root: Path, changed_root: Path, files: list[str]) -> list[str]:
    """Node ids of the tests the change adds or edits (in the test files it modifies): they
    run on both sides too, so that a change to the tests is checked as well as the code. A
    test file whose shared code changed (a parameter list, a fixture, a helper, an import)
    is given whole: every test in it may have changed."""
    ids = []
    for rel in files:
        name = rel.rsplit("/", 1)[-1]
        if not rel.endswith(".py") or not is_test_file(rel) or name == "conftest.py":
            continue
        before, after = _test_sources(Path(base_root) / rel), _test_sources(Path(changed_root) / rel)
        if _rest(Path(base_root) / rel, before) != _rest(Path(changed_root) / rel, after) and after:
            ids.append(rel)  # its shared code changed (parameters, fixtures, helpers): all of its tests
            continue
        ids += [f"{rel}::{test}" for test, source in after.items() if before.get(test) != source]
    return ids


def _rest(path: Path, tests: dict[str, str]) -> str:
    """A test file's text without its test functions: what all of its tests share."""
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace")
    for source in tests.values():
        text = text.replace(source, "", 1)
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())  # blank lines are no change
