"""Find a function in the user's project (tree-sitter): its text, signature and docstring.

Kept whole because every lookup shares one tree-sitter walk over definitions (`_definitions`,
`_find`) and its ranking of conditional ones.

A target is `path/to/file.py::name` or `path::Class.method` (nested classes work too); a
dotted module name (`pkg.mod::name`) works as the path. What cannot be found is a
`LocateError` with a "did you mean" when a close name exists, and a file Python cannot
parse is reported as a syntax error, not as a missing function. `new_target` accepts a
function (or file) that does not exist yet. Putting a candidate in the target's place is
`runners.code.splice`.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tree_sitter import Language, Node, Parser

from runners.project.files import ProjectFiles
from runners.target import Target, TargetError


class LocateError(Exception):
    """The target cannot be found (unknown file, unknown function)."""


class SourceSyntaxError(LocateError):
    """The target's file does not parse: `where` is `path:line` (or the path alone)."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def _text(node: Node) -> bytes:
    """A node's source (every tree here is parsed from bytes, so every node has it)."""
    text = node.text
    assert text is not None
    return text


@cache
def _parser() -> Parser:
    import tree_sitter_python

    return Parser(Language(tree_sitter_python.language()))


@dataclass
class Located:
    path: str
    """Relative to the project root, with forward slashes."""
    qualname: str
    source: str
    """The definition's full text, decorators included, dedented."""
    signature: str
    """The `def ...:` line(s), as written (dedented)."""
    docstring: str
    start_byte: int
    """Start of the definition's first line (decorators included) in the file's bytes."""
    end_byte: int
    start_line: int
    """1-based, decorators included."""
    end_line: int
    is_async: bool
    indent: str
    """The whitespace before the definition (empty for a top-level function)."""


@dataclass
class FunctionInfo:
    """One entry of `list_functions` (for pickers)."""

    qualname: str
    line: int
    doc: str
    """The docstring's first line."""
    is_async: bool = False

    def __iter__(self):  # unpacks as (qualname, line, doc), the shape callers started with
        return iter((self.qualname, self.line, self.doc))


# ---------------------------------------------------------------- tree-sitter side


BRANCHES = ("with_statement", "block")
"""Statements whose blocks run at import time like the code around them (if and try
statements are `_ranked_definitions`' own): a def inside is a module (or class) attribute."""


def _definitions(node: Node, prefix: str = ""):
    """(qualname, outer node incl. decorators, def/class node) for every def and class,
    in classes too, and inside module- and class-level if/elif/else, try/except/else/
    finally and with blocks (not inside functions: those cannot be targeted by name)."""
    for qualname, outer, inner, _ in _ranked_definitions(node, prefix):
        yield qualname, outer, inner


RUNS, MAY_RUN, FALLBACK = 2, 1, 0
"""How sure it is that a definition's branch runs: unconditional code, a version check
that holds here or a try body; the first branch of a condition we cannot evaluate (`if
PYPY:`); a branch that does not run here or an except clause."""


def _ranked_definitions(node: Node, prefix: str = "", rank: int = RUNS):
    """`_definitions` with, for each, how sure it is that its branch runs (see RUNS). Of
    an if/elif/else chain, the first branch whose condition holds (`_condition`) runs and
    the others do not; a condition we cannot evaluate makes its branch MAY_RUN and the
    ones after it FALLBACK. A try's body, else and finally run; its except clauses are
    fallbacks."""
    for child in node.children:
        if child.type == "if_statement":
            yield from _if_chain(child, prefix, rank)
            continue
        if child.type == "try_statement":
            for part in child.children:
                if part.type in ("block", "else_clause", "finally_clause"):
                    yield from _ranked_definitions(part, prefix, rank)
                elif part.type in ("except_clause", "except_group_clause"):
                    yield from _ranked_definitions(part, prefix, FALLBACK)
            continue
        if child.type in BRANCHES:
            yield from _ranked_definitions(child, prefix, rank)
            continue
        inner: Node | None
        outer, inner = child, child
        if child.type == "decorated_definition":
            inner = child.child_by_field_name("definition")
        if inner is None or inner.type not in ("function_definition", "class_definition"):
            continue
        name_node = inner.child_by_field_name("name")
        assert name_node is not None  # a function or class definition has its name
        name = _text(name_node).decode()
        qualname = f"{prefix}{name}"
        yield qualname, outer, inner, rank
        if inner.type == "class_definition":
            body = inner.child_by_field_name("body")
            if body is not None:
                yield from _ranked_definitions(body, qualname + ".", rank)


def _if_chain(node: Node, prefix: str, rank: int):
    decided = False  # an earlier branch runs (or may): the later ones are fallbacks
    for part in [node, *(c for c in node.children if c.type in ("elif_clause", "else_clause"))]:
        condition = part.child_by_field_name("condition")
        holds = True if condition is None else _condition(_text(condition).decode())
        if decided or holds is False:
            own = FALLBACK
        else:
            own = RUNS if holds else MAY_RUN
            decided = True
        block = part.child_by_field_name("consequence") or part.child_by_field_name("body")
        if block is not None:
            yield from _ranked_definitions(block, prefix, min(rank, own))


SAFE_NODES = (
    ast.Expression,
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.Constant,
    ast.Load,
    ast.Call,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)


def _condition(text: str) -> bool | None:
    """The value of a version or platform check as this interpreter sees it (`sys.version_info
    >= (3, 10)`, `hexversion >= 0x30D00A2`, `sys.platform == "win32"`, `TYPE_CHECKING`: false
    at run time); None when the condition is anything else."""
    import sys

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None
    allowed = {
        "sys": sys,
        "TYPE_CHECKING": False,
        "typing": type("typing", (), {"TYPE_CHECKING": False}),
        "hexversion": sys.hexversion,
        "version_info": sys.version_info,
        "platform": sys.platform,
    }
    if len(text) > 200:
        return None
    for sub in ast.walk(tree):
        # The file may hold a candidate: only comparisons of these names' plain attributes,
        # constants and slices are evaluated (no arithmetic: `9 ** 9 ** 9` would hang).
        if not isinstance(sub, SAFE_NODES):
            return None
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("_"):
            return None
        if isinstance(sub, ast.Name) and sub.id not in allowed:
            return None
        if (
            isinstance(sub, ast.Attribute)
            and isinstance(sub.value, ast.Name)
            and sub.value.id == "sys"
            and sub.attr not in ("version_info", "hexversion", "platform", "byteorder", "maxsize")
        ):
            return None
        if isinstance(sub, ast.Call):
            if not (isinstance(sub.func, ast.Attribute) and sub.func.attr in ("startswith", "endswith")):
                return None
    try:
        value = eval(compile(tree, "<condition>", "eval"), {"__builtins__": {}}, allowed)  # names checked above
    except Exception:
        return None
    return bool(value)


def _functions(root: Node) -> list[str]:
    return list(dict.fromkeys(n for n, _, inner in _definitions(root) if inner.type == "function_definition"))


def _bound(root: Node, only: str | None = None) -> dict[str, tuple[Node, Node]]:
    """qualname -> (outer, inner) of the function definition Python would bind to it: the
    last one among those most sure to run (see RUNS; the last: `@overload`s come before
    the implementation), never a property's `@x.setter`/`@x.deleter`."""
    found: dict[str, tuple[Node, Node, int]] = {}
    for name, outer, inner, rank in _ranked_definitions(root):
        if inner.type != "function_definition" or (only is not None and name != only):
            continue
        if name in found:
            if _is_accessor(outer, name.rsplit(".", 1)[-1]):
                continue  # `@x.setter def x`: the target is the property's getter
            if rank < found[name][2]:
                continue  # a branch less sure to run than the one found (`if PYPY:`, an except clause)
        found[name] = (outer, inner, rank)
    return {name: (outer, inner) for name, (outer, inner, _) in found.items()}


def _find(source: bytes, qualname: str):
    """(tree, outer, inner) of `qualname` (see `_bound`); (tree, None, None) when absent."""
    from runners.code.parsed import syntax_tree

    tree = syntax_tree(source)
    return tree, *_bound(tree.root_node, qualname).get(qualname, (None, None))


def _is_accessor(outer: Node, name: str) -> bool:
    """Decorated with `@name.setter` or `@name.deleter`."""
    if outer.type != "decorated_definition":
        return False
    return any(
        c.type == "decorator" and _text(c).decode().replace(" ", "") in (f"@{name}.setter", f"@{name}.deleter")
        for c in outer.children
    )


def _docstring(inner: Node) -> str:
    body = inner.child_by_field_name("body")
    if body is None or not body.children:
        return ""
    first = body.children[0]
    if first.type == "expression_statement" and first.children and first.children[0].type == "string":
        try:
            value = ast.literal_eval(_text(first.children[0]).decode())
        except (ValueError, SyntaxError):
            return ""
        return _clean_doc(value) if isinstance(value, str) else ""
    return ""


def _clean_doc(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc)


def _line_start(source: bytes, byte: int) -> int:
    return source.rfind(b"\n", 0, byte) + 1


def _is_async(inner: Node) -> bool:
    return any(c.type == "async" for c in inner.children) or _text(inner).startswith(b"async")


def list_functions(path: Path) -> list[FunctionInfo]:
    """Every function and method of a file: qualname, 1-based line, docstring's first line."""
    source = Path(path).read_bytes()
    tree = _parser().parse(source)
    out = []
    for name, (outer, inner) in _bound(tree.root_node).items():  # a name defined in two branches: once
        doc = _docstring(inner).strip().splitlines()
        out.append(FunctionInfo(name, outer.start_point[0] + 1, doc[0] if doc else "", _is_async(inner)))
    return sorted(out, key=lambda f: f.line)


def _resolve_file(project: Path, rel: str) -> Path:
    """The target's file inside the project; a dotted module name (`pkg.mod`) works too."""
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise LocateError(f"the target's path must be relative to the project and inside it, not {rel!r}")
    path = project / rel
    if path.is_file():
        return path
    if not rel.endswith(".py") and re.fullmatch(r"[\w.]+", rel):
        for root in (project, project / "src"):
            for candidate in (root / (rel.replace(".", "/") + ".py"), root / rel.replace(".", "/") / "__init__.py"):
                if candidate.is_file():
                    return candidate
    files = sorted(rel for rel in ProjectFiles(project).walk().files if rel.endswith(".py"))  # the one ignore list
    close = difflib.get_close_matches(rel, files, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise LocateError(f"no file {rel} in {project}{hint}")


def _check_syntax(source: bytes, rel: str) -> None:
    """A file Python cannot parse is reported as such (file, line, the parser's message),
    not as a missing function: tree-sitter recovers from errors and may hide the target."""
    from runners.code.parsed import python_tree

    try:
        python_tree(source, rel)  # kept: the selection and the splice read the same text
    except SyntaxError as err:
        text = (err.text or "").strip()
        shown = f": {text[:80]}" if text else ""
        where = f"{rel}:{err.lineno}" if err.lineno else rel
        raise SourceSyntaxError(f"{where}: syntax error: {err.msg}{shown}", where) from None
    except ValueError as err:  # null bytes
        raise SourceSyntaxError(f"{rel}: cannot be parsed: {err}", rel) from None


def _split_target(target: str) -> tuple[str, str]:
    """`path::qualname` as (path, qualname); LocateError when it does not have that shape."""
    try:
        parsed = Target.parse(target, shape="path/to/file.py::function or path.py::Class.method")
    except TargetError as err:
        raise LocateError(str(err)) from None
    return parsed.path, parsed.qualname


def did_you_mean(name: str, names: list[str]) -> str:
    """ "; did you mean a, b?" with the names close to `name`; "" when none is."""
    close = difflib.get_close_matches(name, names, n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def locate(project: Path, target: str) -> Located:
    """Find `path::qualname` in the project (see module doc); LocateError when it is not there."""
    project = Path(project)
    rel, qualname = _split_target(target)
    path = _resolve_file(project, rel)
    rel = path.relative_to(project).as_posix()
    source = path.read_bytes()
    _check_syntax(source, rel)
    tree, outer, inner = _find(source, qualname)
    if outer is None:
        names = _functions(tree.root_node)
        hint = did_you_mean(qualname, names)
        if not hint and names:
            hint = f"; it defines {', '.join(names[:8])}" + (", ..." if len(names) > 8 else "")
        elif not hint:
            hint = "; it defines no functions"
        raise LocateError(f"no function {qualname} in {rel}{hint}")
    start = _line_start(source, outer.start_byte)
    indent = source[start : outer.start_byte].decode()
    text = source[start : outer.end_byte].decode()
    body = inner.child_by_field_name("body")
    signature = source[_line_start(source, inner.start_byte) : body.start_byte].decode() if body else ""
    return Located(
        path=rel,
        qualname=qualname,
        source=_reindent(text, len(indent), ""),
        signature=_reindent(signature, len(indent), "").strip(),
        docstring=_docstring(inner),
        start_byte=start,
        end_byte=outer.end_byte,
        start_line=outer.start_point[0] + 1,
        end_line=outer.end_point[0] + 1,
        is_async=_is_async(inner),
        indent=indent,
    )


# ---------------------------------------------------------------- re-indenting (string-safe)


def _string_lines(code: str) -> set[int]:
    """1-based lines that lie inside a multi-line string (never re-indented)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(node, "value", ""), (str, bytes)):
            if node.end_lineno and node.end_lineno > node.lineno:
                inside.update(range(node.lineno + 1, node.end_lineno + 1))
    return inside


def _reindent(code: str, remove: int, add: str, protected: set[int] | None = None) -> str:
    """Strip up to `remove` columns of leading whitespace from every line and prefix `add`.

    Lines inside multi-line strings (`protected`, 1-based; found by parsing when not
    given) are left alone so the strings keep their values; blank lines get no prefix."""
    if protected is None:
        protected = _string_lines(_reindent_plain(code, remove) if remove else code)
    out = []
    for number, line in enumerate(code.splitlines(keepends=True), start=1):
        if number in protected:
            out.append(line)
            continue
        body = line.lstrip(" \t")
        if not body.strip():
            # A blank line stays empty; one holding only spaces keeps them (moved like the
            # others), so that a round trip gives the file back byte for byte.
            lead = line[: len(line) - len(body)]
            ending = line[len(line.rstrip("\r\n")) :]
            out.append(add + lead[min(remove, len(lead)) :] + ending if lead else body if body else ending)
            continue
        lead = line[: len(line) - len(body)]
        out.append(add + lead[min(remove, len(lead)) :] + body)
    return "".join(out)


def _reindent_plain(code: str, remove: int) -> str:
    """Dedent without string awareness: only used to find where the strings are."""
    return "".join(line[min(remove, len(line) - len(line.lstrip(" \t"))) :] for line in code.splitlines(keepends=True))


# ---------------------------------------------------------------- new functions and files


def new_target(project: Path, target: str, *, new: bool = False) -> Located:
    """A function that does not exist yet: a missing top-level function in an existing
    module (appended at its end) or in a module that does not exist (a new file).

    A close existing name still means a typo: LocateError with "did you mean", unless
    `new` says the user wants the new name."""
    project = Path(project)
    rel, qualname = _split_target(target)
    if Path(rel).is_absolute() or ".." in Path(rel).parts or Path(rel).parts[0] in (".git", ".orps"):
        raise LocateError(f"the target's path must be relative to the project and inside it, not {rel!r}")
    if not rel.endswith(".py"):
        raise LocateError(f"a new target's file must end in .py, not {rel!r}")
    if not re.fullmatch(r"[A-Za-z_]\w*", qualname):
        raise LocateError(
            f"a new target must be a top-level function name, not {qualname!r} "
            "(add new methods to their class by hand first)"
        )
    path = project / rel
    if path.is_file():
        _check_syntax(
            path.read_bytes(), Path(rel).as_posix()
        )  # a file that does not parse is that error, not a new function
        try:
            return locate(project, target)
        except LocateError as err:
            if "did you mean" in str(err) and not new:
                raise LocateError(f"{err} (if {qualname} is a new function, say so with --new)") from None
        source = path.read_bytes()
    else:
        folder = path.parent
        siblings = [p.name for p in folder.glob("*.py")] if folder.is_dir() else []
        typo = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.85)  # words.py for word.py
        if typo and not new:
            near = (Path(rel).parent / typo[0]).as_posix()
            raise LocateError(f"no file {rel}; did you mean {near}? (if {rel} is a new file, say so with --new)")
        source = b""
    line = source.count(b"\n") + 1
    return Located(
        path=Path(rel).as_posix(),
        qualname=qualname,
        source="",
        signature="",
        docstring="",
        start_byte=len(source),
        end_byte=len(source),
        start_line=line,
        end_line=line,
        is_async=False,
        indent="",
    )
