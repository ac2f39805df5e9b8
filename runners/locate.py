"""Find a function in the user's project (tree-sitter): its text, signature and docstring.

A target is `path/to/file.py::name` or `path::Class.method` (nested classes work too); a
dotted module name (`pkg.mod::name`) works as the path. What cannot be found is a
`LocateError` with a "did you mean" when a close name exists, and a file Python cannot
parse is reported as a syntax error, not as a missing function. `new_target` accepts a
function (or file) that does not exist yet. Putting a candidate in the target's place is
`runners.splice`.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tree_sitter import Language, Node, Parser

from runners.projectfiles import ProjectFiles


class LocateError(Exception):
    """The target cannot be found (unknown file, unknown function)."""


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


def _definitions(node: Node, prefix: str = ""):
    """(qualname, outer node incl. decorators, def/class node) for every def and class,
    in classes too (not inside functions: those cannot be targeted by name)."""
    for child in node.children:
        outer, inner = child, child
        if child.type == "decorated_definition":
            inner = child.child_by_field_name("definition")
        if inner is None or inner.type not in ("function_definition", "class_definition"):
            continue
        name = inner.child_by_field_name("name").text.decode()
        qualname = f"{prefix}{name}"
        yield qualname, outer, inner
        if inner.type == "class_definition":
            body = inner.child_by_field_name("body")
            if body is not None:
                yield from _definitions(body, qualname + ".")


def _functions(root: Node) -> list[str]:
    return [n for n, _, inner in _definitions(root) if inner.type == "function_definition"]


def _find(source: bytes, qualname: str):
    tree = _parser().parse(source)
    found = (None, None)
    for name, outer, inner in _definitions(tree.root_node):
        if name == qualname and inner.type == "function_definition":
            if found[0] is not None and _is_accessor(outer, name.rsplit(".", 1)[-1]):
                continue  # `@x.setter def x`: the target is the property's getter
            found = (outer, inner)  # otherwise the last definition wins, as at run time (@overload)
    return tree, *found


def _is_accessor(outer: Node, name: str) -> bool:
    """Decorated with `@name.setter` or `@name.deleter`."""
    if outer.type != "decorated_definition":
        return False
    return any(c.type == "decorator" and c.text.decode().replace(" ", "") in (f"@{name}.setter", f"@{name}.deleter")
               for c in outer.children)


def _docstring(inner: Node) -> str:
    body = inner.child_by_field_name("body")
    if body is None or not body.children:
        return ""
    first = body.children[0]
    if first.type == "expression_statement" and first.children and first.children[0].type == "string":
        try:
            value = ast.literal_eval(first.children[0].text.decode())
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
    return any(c.type == "async" for c in inner.children) or inner.text.startswith(b"async")


def list_functions(path: Path) -> list[FunctionInfo]:
    """Every function and method of a file: qualname, 1-based line, docstring's first line."""
    source = Path(path).read_bytes()
    tree = _parser().parse(source)
    out = []
    for name, outer, inner in _definitions(tree.root_node):
        if inner.type == "function_definition":
            doc = _docstring(inner).strip().splitlines()
            out.append(FunctionInfo(name, outer.start_point[0] + 1, doc[0] if doc else "", _is_async(inner)))
    return out


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
    try:
        ast.parse(source, filename=rel)
    except SyntaxError as err:
        text = (err.text or "").strip()
        shown = f": {text[:80]}" if text else ""
        raise LocateError(f"{rel}:{err.lineno}: syntax error: {err.msg}{shown}") from None
    except ValueError as err:  # null bytes
        raise LocateError(f"{rel}: cannot be parsed: {err}") from None


def _split_target(target: str) -> tuple[str, str]:
    """`path::qualname` as (path, qualname); LocateError when it does not have that shape."""
    rel, sep, qualname = target.partition("::")
    if not sep or not rel or not qualname:
        raise LocateError(f"target {target!r} must look like path/to/file.py::function or path.py::Class.method")
    return rel, qualname


def did_you_mean(name: str, names: list[str]) -> str:
    """"; did you mean a, b?" with the names close to `name`; "" when none is."""
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
    indent = source[start:outer.start_byte].decode()
    text = source[start:outer.end_byte].decode()
    body = inner.child_by_field_name("body")
    signature = source[_line_start(source, inner.start_byte):body.start_byte].decode() if body else ""
    return Located(
        path=rel, qualname=qualname, source=_reindent(text, len(indent), ""),
        signature=_reindent(signature, len(indent), "").strip(),
        docstring=_docstring(inner), start_byte=start, end_byte=outer.end_byte,
        start_line=outer.start_point[0] + 1, end_line=outer.end_point[0] + 1,
        is_async=_is_async(inner), indent=indent,
    )


# ---------------------------------------------------------------- re-indenting (string-safe)


def _string_lines(code: str) -> set[int]:
    """1-based lines that lie inside a multi-line string (never re-indented)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    inside = set()
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
            out.append(body if body else line[len(line.rstrip("\r\n")):])
            continue
        lead = line[: len(line) - len(body)]
        out.append(add + lead[min(remove, len(lead)):] + body)
    return "".join(out)


def _reindent_plain(code: str, remove: int) -> str:
    """Dedent without string awareness: only used to find where the strings are."""
    return "".join(line[min(remove, len(line) - len(line.lstrip(" \t"))):] for line in code.splitlines(keepends=True))


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
        raise LocateError(f"a new target must be a top-level function name, not {qualname!r} "
                          "(add new methods to their class by hand first)")
    path = project / rel
    if path.is_file():
        _check_syntax(path.read_bytes(), Path(rel).as_posix())  # a file that does not parse is that error, not a new function
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
    return Located(path=Path(rel).as_posix(), qualname=qualname, source="", signature="", docstring="",
                   start_byte=len(source), end_byte=len(source), start_line=line, end_line=line,
                   is_async=False, indent="")
