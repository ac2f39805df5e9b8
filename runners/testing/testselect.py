"""Which tests exercise the target, when the user does not say.

Kept whole because selection is one static pass over an index of the project (imports, calls,
fixtures, callers) whose private types (`_Index`, `_FileContext`, `_Target`) every step shares.

Test files (pytest's rules as the project's config sets them, `runners.testing.pytestconfig`:
`python_files` under `testpaths`, by default `test_*.py` and `*_test.py` anywhere) are
scanned statically with `ast`, never imported: collecting with pytest would run the
project's conftest and test modules outside the sandbox, and write `__pycache__` into
the user's project. Tests inside module- or class-level if/try/with blocks (version
checks, optional imports) count; a fixture is never a test, whatever its name.

A test function (or a test method of a `python_classes` class or a `unittest.TestCase`)
is selected when its body (or its class's fixtures/helpers) uses the target:
- a function `func`: the name `func` (or the alias it was imported as), or `mod.func`;
- a method `Class.method`: `.method` on something, or `Class.method`, in a file that
  imports or names `Class`, or on what the package hands out (`parse_version_info(s)
  .bump_major()`, or `v = parse_version_info(s)` then `v.bump_major()`, in a file that
  imports `parse_version_info` from the class's package).
Names reach tests through the project's own modules too: every module that re-exports
the target (`from .sub import *` within `__all__`, `from .sub import func as f`, a
re-export of a re-export) is found first, so `from pkg import f`, `import pkg as p;
p.f(...)`, `pkg.sub.f(...)` and `p.Class(...).method()` all count. Tests a `Test*` class
inherits from a base class in the same file are its tests too.
Matches in files that import the target's module (or a package above it) come first;
only when there are none do name-only matches count (a re-export we cannot see).
Each file is split into lines once: the cost grows linearly with the tests' size.
`-k EXPR` filters with pytest's own keyword-expression parser. The tests' source goes to
the model with the problem (`Task.tests_source`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from runners.code.parsed import python_tree
from runners.testing.reach import CONSTRUCTORS, callers, class_names, operator_use

SOURCE_LIMIT = 6000
"""Characters of test source shown to the model; more is cut with a note."""


class NoTestsFound(Exception):
    """No test uses the target (or none matches -k); the CLI turns it into exit 2.
    `hint`, when set, says what to do instead of the generic advice."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass
class Selection:
    node_ids: list[str]
    """pytest node ids relative to the project root."""
    source: str
    """The selected tests' source, each headed by `# <node id>` (for the model)."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each test was selected (shown by `orps check` and the TUI)."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Test files that were not scanned because they do not parse: path -> parser message."""


def _testpaths(project: Path, collect) -> list[Path]:
    """The project's `testpaths`, when set; else the whole project."""
    if collect.testpaths:
        found = [project / p for p in collect.testpaths if (project / p).exists()]
        if found:
            return found
    return [project]


def test_files(project: Path, rules=None, collect=None) -> list[Path]:
    """The project's test files, sorted. `rules`: the project's `ProjectFiles`, if already
    read; `collect`: its pytest `CollectRules` (`python_files`, `testpaths`), if already read."""
    from runners.project.files import ProjectFiles
    from runners.testing.pytestconfig import collect_rules

    project = Path(project)
    rules = rules or ProjectFiles(project)  # the one ignore list: never walks .git, venvs, .gitignore'd paths
    collect = collect or collect_rules(project)
    out: set[Path] = set()
    for root in _testpaths(project, collect):
        if root.is_file():
            candidates = [root]
        else:
            start = root.resolve().relative_to(rules.project).as_posix() if root.resolve() != rules.project else ""
            candidates = [project / rel for rel in rules.walk(start).files if rel.endswith(".py")]
        for path in candidates:
            rel = path.relative_to(project)
            if any(part.startswith(".") for part in rel.parts[:-1]):
                continue
            if collect.is_test_file(path.name):
                out.add(path)
    return sorted(out)


setattr(test_files, "__test__", False)  # a function named test_*: pytest must not collect it where imported


def _module_name(rel_path: str) -> str:
    """`src/textkit/words.py` -> `textkit.words` (a `src/` layout is not part of the name)."""
    parts = list(Path(rel_path).with_suffix("").parts)
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_of(module: str, rel_path: str) -> str:
    """The package that relative imports in `rel_path` start from."""
    return module if Path(rel_path).name == "__init__.py" else module.rpartition(".")[0]


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """`from ..x import y` inside `package` -> the absolute module name of `..x`."""
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    return ".".join([*base, *([node.module] if node.module else [])])


def _all_names(tree: ast.Module) -> set[str] | None:
    """A module's `__all__` (literal lists/tuples, `+=` too); None when it has none."""
    found: set[str] | None = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if (
            any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
            and isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            and node.value is not None
        ):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):  # computed: not literal
                continue
            if isinstance(value, (list, tuple)):
                found = (found if isinstance(node, ast.AugAssign) and found else set()) | {
                    v for v in value if isinstance(v, str)
                }
    return found


@dataclass
class _Target:
    name: str
    cls: str | None
    module: str
    trees: dict[str, ast.Module] = field(default_factory=dict)
    """The project's source modules that may bind the target (read by `_find_exports`)."""
    exports: dict[str, set[str]] = field(default_factory=dict)
    """module -> its names bound to the target (the class, for a method): the defining
    module, and every package module that re-exports it (`from .sub import *`,
    `from .sub import func as f`, `__all__`), found by a fixpoint over the project."""

    @property
    def wanted(self) -> str:
        return self.cls or self.name

    @property
    def shown(self) -> str:
        return f"{self.cls}.{self.name}" if self.cls else self.name

    def module_matches(self, imported: str) -> bool:
        """True when `imported` is the target's module, a package above it, or its tail
        (`words` for `textkit.words`, when tests put the package dir on sys.path)."""
        mod = self.module
        return bool(imported) and (mod == imported or mod.startswith(imported + ".") or mod.endswith("." + imported))

    def names_in(self, module: str) -> set[str]:
        """The names `module` offers for the target ('' -> none)."""
        if module in self.exports:
            return self.exports[module]
        tail = [m for m in self.exports if m.endswith("." + module)]  # package dir on sys.path
        return set().union(*(self.exports[m] for m in tail)) if tail else set()


def _source_modules(project: Path, rules, wanted: str | None = None) -> list[tuple[str, str, ast.Module]]:
    """(module name, relative path, tree) of the project's non-test modules that can bind
    the target (`wanted`: they name it, or star-import); files are read once and parsed
    only when needed."""
    out = []
    for rel_text in rules.walk().files:  # the one ignore list: no venvs, .git, ignored paths
        rel = Path(rel_text)
        path = project / rel
        if path.suffix != ".py" or any(part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.name.startswith("test_") or path.name.endswith("_test.py") or path.name == "conftest.py":
            continue
        try:
            data = path.read_bytes()  # parsed as bytes, as Python reads a module: locate parsed the same
        except OSError:
            continue
        text = data.decode(errors="replace")
        if wanted is not None and wanted not in text and "import *" not in text:
            continue  # a module that never names the target can neither re-export, alias, subclass nor call it
        if wanted is None and "import" not in text:
            continue  # only a module that imports can re-export
        tree = _parsed(path, data)
        if tree is not None:
            out.append((_module_name(rel.as_posix()), rel.as_posix(), tree))
    return out


_PARSED: dict[tuple[str, int, int], ast.Module | None] = {}
"""Parsed source modules by (path, mtime, size): a helper's callers re-read the same
modules, and the TUI selects again and again in one process."""


def _parsed(path: Path, text: str | bytes) -> ast.Module | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        if len(_PARSED) > 2000:
            _PARSED.clear()
        try:
            _PARSED[key] = python_tree(text)
        except (SyntaxError, ValueError, RecursionError):
            _PARSED[key] = None
    return _PARSED[key]


def _find_exports(project: Path, target: _Target, rules) -> dict[str, set[str]]:
    """See `_Target.exports`."""
    exports: dict[str, set[str]] = {target.module: {target.wanted}}
    modules = _source_modules(project, rules, target.wanted)
    target.trees = {name: tree for name, _, tree in modules}
    all_of = {name: _all_names(tree) for name, _, tree in modules}
    imports = []  # (importing module, source module, imported name, bound name)
    for name, rel, tree in modules:
        package = _package_of(name, rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node, package)
                imports += [(name, source, a.name, a.asname or a.name) for a in node.names]
    changed = True
    while changed:  # a re-export of a re-export: iterate until nothing new is found
        changed = False
        for name, _, tree in modules:  # aliases (`Alias = Class`) and subclasses that inherit the method
            if name in exports:
                more = class_names(tree, exports[name], target.name)
                if more - exports[name]:
                    exports[name] |= more
                    changed = True
        for importer, source, imported, bound in imports:
            offered = exports.get(source, set())
            if imported == "*":
                visible = all_of.get(source)
                new = {n for n in offered if (n in visible if visible is not None else not n.startswith("_"))}
            else:
                new = {bound} if imported in offered else set()
            if new - exports.get(importer, set()):
                exports.setdefault(importer, set()).update(new)
                changed = True
    return exports


@dataclass
class _FileContext:
    related: bool = False
    """The file imports the target's module, a package above it, or a re-export."""
    names: set[str] = field(default_factory=set)
    """Local names bound to the target (the class, for a method)."""
    modules: dict[str, str] = field(default_factory=dict)
    """Local name -> module it is bound to (`import pkg as p`, `from pkg import sub`)."""
    package: str = ""
    """The target's module or a package above it, when the file imports anything from it
    (`from semver import parse_version_info`): a method is then reached through objects the
    package hands out (`parse_version_info(s).bump_major()`) without the class being named."""
    from_package: set[str] = field(default_factory=set)
    """Local names bound by those imports (`parse_version_info`, `semver`)."""


class _Index:
    """What selection needs of one test file (scanned once per target and caller): its
    imports and classes, from a walk of its statements only, in the order a walk of every
    node meets them; every name and attribute it uses, from a walk of every node made only
    when a method's target asks (`_names_class`). Whether it may use a name at all is
    answered from its text (`may_use`)."""

    def __init__(self, tree: ast.Module, text: str):
        self.tree, self.text = tree, text
        self.imports: list[ast.stmt] = []
        self.classes: list[ast.ClassDef] = []
        for node in _statements_walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports.append(node)
            elif isinstance(node, ast.ClassDef):
                self.classes.append(node)
        self._names: set[str] | None = None
        self._attributes: list[ast.Attribute] = []

    @property
    def names(self) -> set[str]:
        """Every name the file uses (`ast.Name`)."""
        if self._names is None:
            self._names = set()
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Name):
                    self._names.add(node.id)
                elif isinstance(node, ast.Attribute):
                    self._attributes.append(node)
        return self._names

    @property
    def attributes(self) -> list[ast.Attribute]:
        """Every attribute access in the file, in walk order."""
        _ = self.names
        return self._attributes

    def may_use(self, words: set[str]) -> bool:
        """False only when no name in the file can be one of `words`: its text is ASCII
        (an identifier is then spelled as written) and contains none of them."""
        return may_contain(self.text, words)


def may_contain(text: str, words: set[str] | None) -> bool:
    """False only when code `text` cannot use any name or attribute in `words` (None: any
    code may, as an operator reaches a dunder without naming it): the text is ASCII (an
    identifier is then spelled as written, never NFKC-folded from another spelling) and
    contains none of them."""
    return words is None or not text.isascii() or any(word in text for word in words)


def _statements_walk(tree: ast.Module):
    """The statements of `tree` at any depth, in the order `ast.walk` meets them (breadth
    first, each node's children in field order), without visiting a single expression:
    statements, except handlers and match cases are all a statement's ancestors can be."""
    from collections import deque

    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                todo.extend(v for v in value if isinstance(v, (ast.stmt, ast.excepthandler, ast.match_case)))
        if isinstance(node, ast.stmt):
            yield node


def _file_context(tree: ast.Module, target: _Target, index: _Index) -> _FileContext:
    ctx = _FileContext(names={target.wanted})
    for node in index.imports:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if target.module_matches(node.module):
                ctx.package = ctx.package or node.module
                ctx.from_package |= {a.asname or a.name for a in node.names}
            offered = target.names_in(node.module)
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if alias.name == "*" and (offered or target.module_matches(node.module)):
                    ctx.related = True  # from pkg import *
                    ctx.names |= offered or {target.wanted}
                elif alias.name in offered or (alias.name == target.wanted and target.module_matches(node.module)):
                    ctx.related = True  # from pkg.mod import func / from pkg import func (re-export)
                    ctx.names.add(alias.asname or alias.name)
                elif target.names_in(dotted) or target.module.startswith(dotted + "."):
                    ctx.related = True  # from pkg import mod
                    ctx.modules[alias.asname or alias.name] = dotted
        elif isinstance(node, ast.ImportFrom):  # relative: tests inside the package
            ctx.package = ctx.package or "." * node.level + (node.module or "")
            ctx.from_package |= {a.asname or a.name for a in node.names}
            for alias in node.names:
                if alias.name == target.wanted:
                    ctx.related = True
                    ctx.names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if target.module_matches(alias.name):
                    ctx.package = ctx.package or alias.name
                    ctx.from_package.add(alias.asname or alias.name.split(".")[0])
                if target.names_in(alias.name) or target.module.startswith(alias.name + "."):
                    ctx.related = True
                    if alias.asname:  # import pkg.sub as s
                        ctx.modules[alias.asname] = alias.name
                    else:  # import pkg.sub binds pkg; the chain is followed at use
                        top = alias.name.split(".")[0]
                        ctx.modules[top] = top
    ctx.names |= class_names(tree, ctx.names, target.name)  # `C = Cache`, `class MyCache(Cache)` in the tests
    for cls in index.classes:  # `Cache = cachetools.LRUCache` in a test class
        for item in cls.body:
            if isinstance(item, ast.Assign) and (
                (isinstance(item.value, ast.Name) and item.value.id in ctx.names)
                or (isinstance(item.value, ast.Attribute) and _through_module(item.value, target, ctx))
            ):
                ctx.names |= {t.id for t in item.targets if isinstance(t, ast.Name)}
    return ctx


def _dotted(node: ast.AST) -> str:
    """`a.b.c` for a chain of attributes on a name; '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def _through_module(sub: ast.Attribute, target: _Target, ctx: _FileContext) -> bool:
    """`p.func` / `pkg.sub.func` / `p.Class` where the module path offers the target."""
    owner = _dotted(sub.value)
    if not owner:
        return False
    head, _, rest = owner.partition(".")
    if head not in ctx.modules:
        return False
    module = ctx.modules[head] + (f".{rest}" if rest else "")
    return sub.attr in target.names_in(module) or (sub.attr == target.wanted and target.module_matches(module))


def _root(node: ast.AST) -> str:
    """The name a chain of calls, attributes and subscripts starts from (`v` in
    `v.bump().parts[0]`, `make` in `make(s).bump()`); '' for anything else."""
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _package_objects(node: ast.AST, ctx: _FileContext) -> set[str]:
    """Names holding what the package hands out: its imports, and the names the test assigns
    from them (`v = parse_version_info(s)`, then `w = v.bump_minor()`)."""
    held = set(ctx.from_package)
    if not held:
        return held
    assigns = [n for n in ast.walk(node) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr))]
    for _ in range(3):  # chains of assignments, a few deep
        for a in assigns:
            if a.value is not None and _root(a.value) in held:
                targets = a.targets if isinstance(a, ast.Assign) else [a.target]
                held |= {t.id for t in targets if isinstance(t, ast.Name)}
    return held


def _uses(node: ast.AST, target: _Target, ctx: _FileContext, file_names_class: bool) -> str:
    """A short reason when `node` uses the target, else ''. `.method` counts in a file that
    names the class or imports from its package; an operator only where the class is named
    (`==` in any test of the package would select every `__eq__`)."""
    dunder = target.cls is not None and target.name.startswith("__") and target.name.endswith("__")
    held: set[str] | None = None  # what the package hands out, found on first need
    for sub in ast.walk(node):
        if target.cls is None:
            if isinstance(sub, ast.Name) and sub.id in ctx.names:
                return f"calls {sub.id}"
            if isinstance(sub, ast.Attribute) and _through_module(sub, target, ctx):
                return f"calls {ast.unparse(sub)}"
            continue
        if (
            target.name in CONSTRUCTORS
            and isinstance(sub, ast.Call)
            and (
                (isinstance(sub.func, ast.Name) and sub.func.id in ctx.names)
                or (isinstance(sub.func, ast.Attribute) and _through_module(sub.func, target, ctx))
                or (
                    isinstance(sub.func, ast.Attribute)
                    and sub.func.attr in ctx.names  # self.Cache(...)
                    and isinstance(sub.func.value, ast.Name)
                    and sub.func.value.id in ("self", "cls")
                )
            )
        ):
            return f"constructs {ast.unparse(sub.func)} ({target.cls}.{target.name})"
        if isinstance(sub, ast.Attribute) and sub.attr == target.name and file_names_class:
            return f"uses {target.cls}.{target.name}"
        if isinstance(sub, ast.Attribute) and sub.attr == target.name and ctx.from_package and not dunder:
            held = _package_objects(node, ctx) if held is None else held
            if _root(sub.value) in held:  # not `tmp_path.write_text` in a file that imports click
                return f"uses .{target.name} on an object from {ctx.package}"
        if dunder and file_names_class:
            how = operator_use(sub, target.name)
            if how:
                return f"{how} ({target.cls}.{target.name})"
    return ""


def _words(target: _Target, ctx: _FileContext) -> set[str] | None:
    """Words one of which the source of every test `_uses` finds using the target contains
    (see `may_contain`): the names bound to it in the file or offered by any module, and the
    method's name; None for a dunder, which an operator reaches without naming it."""
    if target.cls is not None and target.name.startswith("__") and target.name.endswith("__"):
        return None
    return {target.name, target.wanted, *ctx.names}.union(*target.exports.values())


def _is_unittest_class(node: ast.ClassDef) -> bool:
    return any(
        (isinstance(b, ast.Name) and b.id.endswith("TestCase"))
        or (isinstance(b, ast.Attribute) and b.attr.endswith("TestCase"))
        for b in node.bases
    )


def _is_fixture(node: ast.AST) -> bool:
    """Decorated with `@pytest.fixture` (or `@fixture`, `@pytest.fixture(...)`): a fixture
    named `test_url` is not a test."""
    for decorator in getattr(node, "decorator_list", []):
        func = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (isinstance(func, ast.Name) and func.id in ("fixture", "yield_fixture")) or (
            isinstance(func, ast.Attribute) and func.attr in ("fixture", "yield_fixture")
        ):
            return True
    return False


def _statements(body: list[ast.stmt]):
    """The statements of a module or class body that bind its names, those inside if/try/
    with blocks too (version checks, optional imports): pytest collects what Python binds."""
    for node in body:
        if isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ == "TryStar":
            for block in (
                node.body,  # type: ignore[attr-defined]  # TryStar (Python 3.11+) has a body too
                getattr(node, "orelse", []),
                getattr(node, "finalbody", []),
                *(h.body for h in getattr(node, "handlers", [])),
            ):
                yield from _statements(block)
        else:
            yield node


def _tests_in(tree: ast.Module, collect=None):
    """(node id suffix, test node, class that defines it or None) of each test pytest
    would collect (its `python_functions`/`python_classes` rules; `test*` methods of a
    `unittest.TestCase`; never a fixture; a name bound twice, in an if and its else, once);
    a test class also runs the tests of its base classes in this file (a mixin of shared tests)."""
    from runners.testing.pytestconfig import CollectRules

    collect = collect or CollectRules()
    classes = {node.name: node for node in _statements(tree.body) if isinstance(node, ast.ClassDef)}

    def methods(cls: ast.ClassDef, seen: set[str], unittest: bool):
        for item in _statements(cls.body):
            if (
                isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and item.name not in seen
                and (item.name.startswith("test") if unittest else collect.is_test_function(item.name))
                and not _is_fixture(item)
            ):
                seen.add(item.name)
                yield item, cls
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in classes and classes[base.id] is not cls:
                yield from methods(classes[base.id], seen, unittest)

    seen: set[str] = set()
    for node in _statements(tree.body):
        if getattr(node, "name", None) in seen:
            continue
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and collect.is_test_function(node.name)
            and not _is_fixture(node)
        ):
            seen.add(node.name)
            yield node.name, node, None
        elif isinstance(node, ast.ClassDef) and (_is_unittest_class(node) or collect.is_test_class(node.name)):
            seen.add(node.name)
            for item, owner in methods(node, set(), _is_unittest_class(node)):
                yield f"{node.name}::{item.name}", item, owner


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

        def matcher(name: str, /, **kwargs: str | int | bool | None) -> bool:
            return any(name.lower() in part for part in parts)

        return expression.evaluate(matcher)

    return [n for n in node_ids if matches(n)]


def _given(node_id: str, rel: str, tests: list[str]) -> bool:
    for t in tests:
        t = t.rstrip("/")
        if (
            node_id == t
            or node_id.startswith(t + "::")
            or node_id.startswith(t + "[")
            or rel == t
            or rel.startswith(t + "/")
            or t in (".", "")
        ):
            return True
    return False


def _names_class(index: _Index, target: _Target, ctx: _FileContext) -> bool:
    """The file mentions the target's class (by a bound name or through a module)."""
    return bool(index.names & ctx.names) or any(_through_module(n, target, ctx) for n in index.attributes)


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The node's source, decorators included, from the file's lines split once
    (`ast.get_source_segment` re-splits the whole file per call: quadratic)."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "".join(lines[first - 1 : node.end_lineno]).rstrip()


def _scan(files, target: _Target, collect, tests: list[str] | None):
    """(strong, weak) matches in the parsed test files: (node id, source, reason) each;
    strong ones are in files that import the target's module (see module doc)."""
    strong: list[tuple[str, str, str]] = []
    weak: list[tuple[str, str, str]] = []
    for rel, tree, lines, index in files:
        ctx = _file_context(tree, target, index)
        if not tests and not ctx.related and not ctx.package and not index.may_use(ctx.names):
            continue  # nothing in the file can reach the target: no need to walk its tests
        file_names_class = target.cls is not None and _names_class(index, target, ctx)
        words = _words(target, ctx)  # a test whose source has none of them cannot use the target: not walked

        def uses(node: ast.stmt, source: str | None = None) -> str:
            source = _segment(lines, node) if source is None else source
            return _uses(node, target, ctx, file_names_class) if may_contain(source, words) else ""

        helper_reason: dict[int, str] = {}  # per test class, computed once
        for suffix, node, owner in _tests_in(tree, collect):
            node_id = f"{rel}::{suffix}"
            if tests:
                if _given(node_id, rel, tests):
                    strong.append((node_id, _segment(lines, node), "given with --tests"))
                continue
            source = _segment(lines, node)
            reason = uses(node, source)
            if not reason and owner is not None:  # setUp / helper methods of the test class
                if id(owner) not in helper_reason:
                    helpers = [
                        n
                        for n in owner.body
                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("test")
                    ]
                    helper_reason[id(owner)] = next((r for r in map(uses, helpers) if r), "")
                reason = helper_reason[id(owner)]
            if reason:
                (strong if ctx.related or ctx.package else weak).append(
                    (node_id, source, f"{reason} ({rel} imports {target.module})" if ctx.related else reason)
                )
    return strong, weak


MAX_CALLERS = 12
"""Callers of a helper followed at most (and two levels up): enough for a private helper
behind a public function, cheap on a large project."""


def _through_callers(project: Path, rules, files, target: _Target, collect):
    """The tests of the functions that call the target and of their callers, when no
    test reaches it directly: a module-level helper that only the
    public API calls. Each reason says the way: "calls naturaltime (...); naturaltime
    calls _abs_timedelta"."""
    strong: list[tuple[str, str, str]] = []
    weak: list[tuple[str, str, str]] = []
    seen = {(target.name, target.cls, target.module)}
    level: list[tuple[_Target, list[str]]] = [(target, [])]
    for _ in range(2):
        found = []
        for callee, chain in level:
            for module, tree in callee.trees.items():
                names = callee.exports.get(module, set())
                for name, cls in callers(tree, names, callee.name, callee.cls):
                    if (name, cls, module) in seen or len(seen) > MAX_CALLERS:
                        continue
                    seen.add((name, cls, module))
                    caller = _Target(name, cls, module)
                    caller.exports = _find_exports(project, caller, rules)
                    found.append((caller, [f"{caller.shown} calls {callee.shown}", *chain]))
        for caller, chain in found:
            got_strong, got_weak = _scan(files, caller, collect, None)
            have = {c[0] for c in strong + weak}
            way = "; ".join(chain)
            strong += [(i, src, f"{why}; {way}") for i, src, why in got_strong if i not in have]
            weak += [(i, src, f"{why}; {way}") for i, src, why in got_weak if i not in have]
        if not found:
            break
        level = found  # their callers reach the target too
    return strong, weak


def _reached(project: Path, rules, files, located, collect, have: set[str]) -> list[tuple[str, str, str]]:
    """The tests the project's reach map (`runners.testing.reachmap`, made by `orps check
    --map`) saw run the target, that still exist and are not chosen yet."""
    from runners.testing.reachmap import load

    reach = load(project, rules)
    if reach is None:
        return []
    reaching = set(reach.tests_reaching(Path(located.path).as_posix(), located.qualname))
    found = []
    for rel, tree, lines, _index_ in files:
        for suffix, node, _owner in _tests_in(tree, collect):
            node_id = f"{rel}::{suffix}"
            if node_id in reaching and node_id not in have:
                found.append((node_id, _segment(lines, node), f"ran {located.qualname} ({reach.summary()})"))
    return found


def select_tests(project: Path, located, tests: list[str] | None = None, k: str | None = None) -> Selection:
    """The tests for `located` (a `runners.code.locate.Located`): the ones given with `tests`
    (node ids, files or directories), else the ones that use the target; then `-k`.
    Test files that do not parse are left out and named in `Selection.left_out`."""
    from runners.project.files import ProjectFiles
    from runners.testing.pytestconfig import collect_rules

    project = Path(project)
    collect = collect_rules(project)
    if tests:
        for t in tests:
            given = t.split("::")[0].rstrip("/")
            if not (project / given).exists():
                raise NoTestsFound(f"no test file or directory {given} in {project}")
    cls, _, name = located.qualname.rpartition(".")
    target = _Target(name, cls.split(".")[0] if cls else None, _module_name(located.path))
    rules = ProjectFiles(project)  # read once (it asks git what is ignored): both walks use it
    if not tests:
        target.exports = _find_exports(project, target, rules)
    files: list[tuple[str, ast.Module, list[str], _Index]] = []
    left_out: dict[str, str] = {}
    for path in test_files(project, rules, collect):
        rel = path.relative_to(project).as_posix()
        try:
            text = path.read_text(errors="replace")
            tree = ast.parse(text)
            files.append((rel, tree, text.splitlines(keepends=True), _Index(tree, text)))
        except SyntaxError as err:
            left_out[rel] = f"line {err.lineno}: {err.msg}"
        except (ValueError, OSError) as err:
            left_out[rel] = str(err)
    strong, weak = _scan(files, target, collect, tests)
    if not tests and not (strong or weak):
        strong, weak = _through_callers(project, rules, files, target, collect)
    chosen = strong or weak
    if not tests:
        chosen += _reached(project, rules, files, located, collect, {c[0] for c in chosen})
    if tests and not chosen:
        # Ids we cannot see statically (generated tests, plugins): let pytest decide.
        chosen = [(t, "", "given with --tests") for t in tests]
    if k:
        keep = set(_keyword_filter([c[0] for c in chosen], k))
        chosen = [c for c in chosen if c[0] in keep]
    if not chosen and not tests:
        _explain_nothing_to_select(project, located, files, left_out, collect)
    if not chosen:
        where = f" matching -k {k!r}" if k else ""
        given = " among the given tests" if tests else ""
        broken = f" ({len(left_out)} test files do not parse: {_left_out_text(left_out)})" if left_out else ""
        raise NoTestsFound(f"no tests{where}{given} in {project} use {located.qualname}{broken}")
    parts = [f"# {node_id}\n{source}" for node_id, source, _ in chosen if source]
    source = "\n\n".join(parts)
    if len(source) > SOURCE_LIMIT:
        source = source[:SOURCE_LIMIT] + "\n# ... more tests not shown"
    return Selection([c[0] for c in chosen], source, {c[0]: c[2] for c in chosen}, left_out)


def _explain_nothing_to_select(project: Path, located, files, left_out, collect) -> None:
    """The two cases where "no tests use X" misleads: the target is itself a test, or the
    project has no test file at all. Raises NoTestsFound saying which, with what to do."""
    rel = Path(located.path).as_posix()
    for path, tree, _lines, _index_ in files:
        if path != rel:
            continue
        tested = {suffix.replace("::", "."): node for suffix, node, _owner in _tests_in(tree, collect)}
        node = tested.get(located.qualname)
        if node is not None:
            used = _called_project_functions(project, path, tree, node)
            example = used[0] if used else "path/to/module.py::function"
            also = f" (it calls {', '.join(used)})" if len(used) > 1 else ""
            raise NoTestsFound(
                f"{rel}::{located.qualname.replace('.', '::')} is a test: orps checks and improves "
                f"the code your tests use, not the tests",
                hint=f"target the function it tests, for example {example}{also}",
            )
    if not files and not left_out:
        patterns = " or ".join(collect.python_files)
        raise NoTestsFound(
            f"{project} has no test files (pytest collects files named {patterns})",
            hint=f"write a pytest test that calls {located.qualname}, for example in tests/test_{Path(rel).stem}.py, "
            "or pass --tests with pytest node ids",
        )


def _called_project_functions(project: Path, rel: str, tree: ast.Module, test: ast.AST) -> list[str]:
    """Targets (`path.py::name`) of the project's functions and classes that `test` calls by
    a name the test module imports (`from pkg.mod import f`, `import pkg.mod as m; m.f()`)."""
    package = _package_of(_module_name(rel), rel)
    imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name in it); name "" for a module
    for node in _statements(tree.body):
        if isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            for alias in node.names:
                imported[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:  # `import a.b` binds a; `import a.b as m` binds a.b
                module = alias.name if alias.asname else alias.name.split(".")[0]
                imported[alias.asname or module] = (module, "")
    found: list[str] = []
    for call in ast.walk(test):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Name) and func.id in imported and imported[func.id][1]:
            module, name = imported[func.id]
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in imported:
            base, attr = imported[func.value.id]
            module, name = (f"{base}.{attr}" if attr else base), func.attr
        else:
            continue
        source = _module_file(project, module)
        if source and f"{source}::{name}" not in found:
            found.append(f"{source}::{name}")
    return found


def _module_file(project: Path, module: str) -> str | None:
    """The project file of a dotted module name (flat or `src/` layout), or None."""
    parts = module.split(".")
    for root in ("", "src/", "lib/"):
        for rel in (f"{root}{'/'.join(parts)}.py", f"{root}{'/'.join(parts)}/__init__.py"):
            if (project / rel).is_file():
                return rel
    return None


def _left_out_text(left_out: dict[str, str]) -> str:
    return "; ".join(f"{rel} {why}" for rel, why in sorted(left_out.items()))
