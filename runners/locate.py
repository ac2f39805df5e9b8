"""Find a function in the user's project and put a candidate in its place (tree-sitter).

A target is `path/to/file.py::name` or `path::Class.method` (nested classes work too).
`splice_candidate` replaces exactly the target's bytes: comments and the rest of the
file survive byte for byte. Around the candidate's definition of the target:

- imports go to the top of the module (after its docstring and `__future__` imports, at
  the end of its leading import block), skipping names already imported there;
- helper functions, classes and constants go right before the target's top-level
  definition (the class, for a method), skipping names the module already defines — a
  model often echoes the whole module back, and the user's own code must win;
- anything else (example calls, prints, `if __name__ == "__main__":`) is dropped, since
  it would run at import time in the user's module.

Re-indentation never touches the inside of multi-line strings, so their values survive.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tree_sitter import Language, Node, Parser


class LocateError(Exception):
    """The target cannot be found (unknown file, unknown function)."""


class SpliceError(Exception):
    """The candidate cannot replace the target (syntax error, target not defined)."""


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
    files = [p.relative_to(project).as_posix() for p in sorted(project.rglob("*.py"))
             if not any(part.startswith(".") or part in ("venv", "__pycache__", "node_modules") for part in p.relative_to(project).parts)]
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


def locate(project: Path, target: str) -> Located:
    """Find `path::qualname` in the project (see module doc); LocateError when it is not there."""
    project = Path(project)
    rel, sep, qualname = target.partition("::")
    if not sep or not rel or not qualname:
        raise LocateError(f"target {target!r} must look like path/to/file.py::function or path.py::Class.method")
    path = _resolve_file(project, rel)
    rel = path.relative_to(project).as_posix()
    source = path.read_bytes()
    _check_syntax(source, rel)
    tree, outer, inner = _find(source, qualname)
    if outer is None:
        names = _functions(tree.root_node)
        close = difflib.get_close_matches(qualname, names, n=3)
        if close:
            hint = f"; did you mean {', '.join(close)}?"
        elif names:
            hint = f"; it defines {', '.join(names[:8])}" + (", ..." if len(names) > 8 else "")
        else:
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


# ---------------------------------------------------------------- candidate side


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


def _strip_fences(candidate: str) -> str:
    """A candidate pasted from a chat answer may still be in a ```python fence: take its code."""
    if "```" not in candidate:
        return candidate
    blocks = re.findall(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", candidate, re.S)
    defining = [b for b in blocks if re.search(r"^\s*(async\s+)?def\s", b, re.M)]
    return (defining or blocks or [candidate])[0]


def _parse_candidate(candidate: str) -> tuple[ast.Module, str]:
    """Parse the candidate; one written indented (a method copied out of its class) is
    dedented first. Returns the module and the (dedented) text it was parsed from."""
    try:
        return ast.parse(candidate), candidate
    except SyntaxError as err:
        first_error = err
    unfenced = _strip_fences(candidate)
    if unfenced != candidate:
        try:
            return ast.parse(unfenced), unfenced
        except SyntaxError:
            candidate = unfenced
    lines = [line for line in candidate.splitlines() if line.strip()]
    if lines and lines[0][:1] in (" ", "\t"):
        width = len(lines[0]) - len(lines[0].lstrip(" \t"))
        try:
            wrapped = ast.parse("if True:\n" + candidate)  # string-safe check that it is one indented block
        except SyntaxError:
            wrapped = None
        if wrapped is not None:
            protected = {n - 1 for n in _string_lines("if True:\n" + candidate)}
            dedented = _reindent(candidate, width, "", protected)
            try:
                return ast.parse(dedented), dedented
            except SyntaxError:
                pass
    text = (first_error.text or "").strip()
    where = f" ({text[:60]!r})" if text else ""
    raise SpliceError(f"the candidate has a syntax error at line {first_error.lineno}: {first_error.msg}{where}")


def _names_defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    names = set()
    for target in targets:
        for sub in ast.walk(target) if target is not None else ():
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


@dataclass
class _Parts:
    definition: str
    """The target's definition (decorators included), dedented to column 0."""
    imports: list[ast.stmt]
    helpers: list[tuple[set[str], str]]
    """(names it defines, text) of every helper, in order."""


def _split_candidate(candidate: str, name: str) -> _Parts:
    module, text = _parse_candidate(candidate)
    lines = text.splitlines(keepends=True)

    def text_of(node) -> str:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        end = node.end_lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # Comments at the end of a body belong to it (ast stops at the last statement).
            last, i = end, end
            while i < len(lines):
                stripped = lines[i].lstrip(" \t")
                if stripped.startswith("#") and len(lines[i]) - len(stripped) > node.col_offset:
                    last = i + 1
                elif stripped.strip():
                    break
                i += 1
            end = last
        return "".join(lines[first - 1:end])

    def is_target(node) -> bool:
        return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name

    definition, imports, helpers = None, [], []
    for node in module.body:
        if is_target(node):
            definition = text_of(node)  # the last definition wins, as it would at run time
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        elif isinstance(node, ast.ClassDef) and any(is_target(n) for n in node.body):
            # The model rewrote the whole class: take the method out of it.
            method = next(n for n in reversed(node.body) if is_target(n))
            first = min([method.lineno] + [d.lineno for d in method.decorator_list])
            method_text = text_of(method)
            definition = _reindent(method_text, method.col_offset, "",
                                   {n - first + 1 for n in _string_lines(text) if first <= n <= method.end_lineno})
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            helpers.append((_names_defined(node), text_of(node).rstrip()))
    if definition is None:
        defined = [n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        also = f" (it defines {', '.join(defined)})" if defined else ""
        raise SpliceError(f"the candidate does not define {name}{also}")
    return _Parts(definition, imports, helpers)


# ---------------------------------------------------------------- putting it together


def _keep_docstring(definition: str, original: Node) -> str:
    """Models often drop the docstring; the user wrote it, so a patch keeps it."""
    body = original.child_by_field_name("body")
    if not _docstring(original) or body is None:
        return definition
    func = ast.parse(definition).body[0]
    if ast.get_docstring(func) is not None or not func.body:
        return definition
    lines = definition.splitlines(keepends=True)
    first = func.body[0].lineno - 1
    if func.body[0].lineno == func.lineno:  # `def f(): return x` on one line: leave it
        return definition
    body_indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    doc_node = body.children[0]
    # The original docstring statement, moved from its column to the candidate's body column.
    doc_text = " " * doc_node.start_point[1] + doc_node.text.decode()
    doc_text = _reindent(doc_text, doc_node.start_point[1], body_indent, set(range(2, doc_text.count("\n") + 2)))
    return "".join(lines[:first]) + doc_text.rstrip("\n") + "\n" + "".join(lines[first:])


def _split_header(definition: str):
    """(decorator lines, `def ...:` lines, the rest, the function's ast node) of a
    definition at column 0; None when it cannot be split (one-line `def f(): ...`)."""
    try:
        func = ast.parse(definition).body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) or func.body[0].lineno == func.lineno:
        return None
    lines = definition.splitlines(keepends=True)
    for end in range(func.lineno, func.body[0].lineno):  # the shortest header that parses
        try:
            ast.parse("".join(lines[func.lineno - 1:end]) + "    pass\n")
        except SyntaxError:
            continue
        return "".join(lines[:func.lineno - 1]), "".join(lines[func.lineno - 1:end]), "".join(lines[end:]), func
    return None


def _parameters(func) -> tuple:
    """What callers see of a signature: kinds, names, which have defaults, async or not."""
    a = func.args
    return (isinstance(func, ast.AsyncFunctionDef), [p.arg for p in a.posonlyargs], [p.arg for p in a.args],
            a.vararg.arg if a.vararg else None, [p.arg for p in a.kwonlyargs], a.kwarg.arg if a.kwarg else None,
            len(a.defaults), [d is not None for d in a.kw_defaults])


def _keep_signature(definition: str, original: str) -> str:
    """When the candidate's parameters are the original's (names, kinds, which have
    defaults, async), the user's `def` lines stay as written (annotations, default
    values, comments) and so do the user's decorators, unless the candidate wrote other
    ones; a docstring the candidate rewrote is dropped (the user's goes back in). Only
    the body changes. A real interface change keeps the candidate's signature."""
    cand, orig = _split_header(definition), _split_header(original)
    if cand is None or orig is None or _parameters(cand[3]) != _parameters(orig[3]):
        return definition
    cand_decorators, cand_def, body, func = cand
    orig_decorators = orig[0]
    own = {ast.unparse(d) for d in orig[3].decorator_list}
    decorators = orig_decorators if all(ast.unparse(d) in own for d in func.decorator_list) else cand_decorators
    doc = func.body[0]
    if (ast.get_docstring(orig[3]) is not None and ast.get_docstring(func) is not None and len(func.body) > 1
            and func.body[1].lineno > doc.end_lineno):
        lines = body.splitlines(keepends=True)
        first = doc.lineno - 1 - len((cand_decorators + cand_def).splitlines())
        body = "".join(lines[:first] + lines[first + doc.end_lineno - doc.lineno + 1:])
    return decorators + orig[1] + body


def signature_change(old_file: str, new_file: str, qualname: str) -> tuple[str, str] | None:
    """(before, after) `def` lines of `qualname` when the new file changes its interface
    (what `_keep_signature` let through); None when the signature is the user's."""
    def signature(text: str) -> str | None:
        source = text.encode()
        _, outer, inner = _find(source, qualname)
        body = inner.child_by_field_name("body") if inner is not None else None
        if body is None:
            return None
        header = source[_line_start(source, inner.start_byte):body.start_byte].decode()
        return " ".join(header.split())

    before, after = signature(old_file), signature(new_file)
    return (before, after) if before and after and before != after else None


def _module_layout(source: bytes):
    """(future point, import point, top-level names, imported keys) of a module.

    The future point is after the docstring and `from __future__` imports; the import
    point is after the leading block of imports that follows (or the future point)."""
    tree = _parser().parse(source)
    future = imports_end = 0
    seen_other = False
    for child in tree.root_node.children:
        if child.type == "comment":
            continue
        is_doc = child.type == "expression_statement" and child.children and child.children[0].type == "string"
        if not seen_other and (child.type == "future_import_statement" or (is_doc and future == 0 and imports_end == 0)):
            future = imports_end = child.end_byte
            continue
        if not seen_other and child.type in ("import_statement", "import_from_statement"):
            imports_end = child.end_byte
            continue
        seen_other = True
    try:
        module = ast.parse(source)
    except SyntaxError:
        module = ast.Module(body=[], type_ignores=[])
    names, imported = set(), set()
    for node in module.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= _import_keys(node)
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            names |= _names_defined(node)
    return future, imports_end, names, imported


def _import_keys(node) -> set[tuple]:
    if isinstance(node, ast.Import):
        return {("import", a.name, a.asname) for a in node.names}
    return {("from", node.level, node.module, a.name, a.asname) for a in node.names}


def _new_imports(imports: list[ast.stmt], imported: set[tuple]) -> list[str]:
    """The candidate's imports the module lacks, one statement each, de-duplicated."""
    out: list[str] = []
    for node in imports:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue  # only valid at the very top; the spliced module must not depend on it
        missing = [a for a in node.names if not (_import_keys(_single(node, a)) <= imported)]
        if not missing:
            continue
        statement = ast.unparse(_single(node, *missing))
        imported |= _import_keys(_single(node, *missing))
        if statement not in out:
            out.append(statement)
    return out


def _single(node, *aliases):
    if isinstance(node, ast.Import):
        return ast.Import(names=list(aliases))
    return ast.ImportFrom(module=node.module, names=list(aliases), level=node.level)


def splice_candidate(file_source: str, qualname: str, candidate: str) -> str:
    """The file with `qualname` replaced by the candidate's definition (see module doc).

    Raises SpliceError when the target is not in the file, the candidate does not parse
    or does not define the target's name, or the result would not parse."""
    crlf = "\r\n" in file_source and file_source.count("\r\n") == file_source.count("\n")
    if crlf:  # work in \n and give the file its own line endings back
        file_source = file_source.replace("\r\n", "\n")
    candidate = candidate.replace("\r\n", "\n")
    source = file_source.encode()
    tree, outer, inner = _find(source, qualname)
    if outer is None:
        names = _functions(tree.root_node)
        close = difflib.get_close_matches(qualname, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SpliceError(f"no function {qualname} in the file{hint}")
    name = qualname.rsplit(".", 1)[-1]
    parts = _split_candidate(candidate, name)
    start = _line_start(source, outer.start_byte)
    indent = source[start:outer.start_byte].decode()
    original = _reindent(source[start:outer.end_byte].decode(), len(indent), "")
    definition = _keep_docstring(_keep_signature(parts.definition, original), inner)
    if outer.type == "decorated_definition" and not definition.lstrip().startswith("@"):
        # The model dropped the decorators (@staticmethod, @cache...): keep the original ones.
        decorators = source[start:inner.start_byte].decode()
        definition = _reindent(decorators, len(indent), "") + definition
    if "\t" not in indent and "\t" in definition:
        definition = _expand_leading_tabs(definition)
    new_def = _reindent(definition.rstrip("\n"), 0, indent).encode()

    _, imports_end, names, imported = _module_layout(source)
    top_start = start
    if indent:  # a method: helpers go before the top-level class that holds it
        for child in tree.root_node.children:
            if child.start_byte <= outer.start_byte < child.end_byte:
                top_start = _line_start(source, child.start_byte)
    helpers = []
    for defined, text in parts.helpers:
        if defined & names or defined & {name}:
            continue  # the module already has it (often the model echoing the file back): the user's wins
        names |= defined
        helpers.append(text + "\n\n\n")
    out = source[:top_start] + "".join(helpers).encode() + source[top_start:start] + new_def + source[outer.end_byte:]

    new_imports = _new_imports(parts.imports, set(imported))
    if new_imports:
        block = "\n".join(new_imports).encode()
        point = imports_end or _leading_comments_end(tree.root_node)
        if point == 0:
            out = block + b"\n" + (b"\n" if out.strip() else b"") + out
        else:
            # After the end of that line, so a trailing comment stays with its statement.
            newline = out.find(b"\n", point)
            point = len(out) if newline < 0 else newline
            out = out[:point] + b"\n" + block + out[point:]
    result = out.decode()
    try:
        ast.parse(result)
    except SyntaxError as err:
        raise SpliceError(f"the spliced file does not parse (line {err.lineno}: {err.msg})") from None
    return result.replace("\n", "\r\n") if crlf else result


def _leading_comments_end(root: Node) -> int:
    """End of the comments (shebang, coding line, licence) before the first statement."""
    end = 0
    for child in root.children:
        if child.type != "comment":
            break
        end = child.end_byte
    return end


def _expand_leading_tabs(code: str) -> str:
    protected = _string_lines(code)
    out = []
    for number, line in enumerate(code.splitlines(keepends=True), start=1):
        stripped = line.lstrip(" \t")
        lead = line[: len(line) - len(stripped)]
        out.append(line if number in protected else lead.replace("\t", "    ") + stripped)
    return "".join(out)


# ---------------------------------------------------------------- new functions and files


def new_target(project: Path, target: str, *, new: bool = False) -> Located:
    """A function that does not exist yet: a missing top-level function in an existing
    module (appended at its end) or in a module that does not exist (a new file).

    A close existing name still means a typo: LocateError with "did you mean", unless
    `new` says the user wants the new name."""
    project = Path(project)
    rel, sep, qualname = target.partition("::")
    if not sep or not rel or not qualname:
        raise LocateError(f"target {target!r} must look like path/to/file.py::function or path.py::Class.method")
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


def splice_or_add(file_source: str, qualname: str, candidate: str) -> str:
    """`splice_candidate`, except that a missing top-level function is added at the end
    of the module (which may be empty: a new file)."""
    if "." not in qualname and _find(file_source.encode(), qualname)[1] is None:
        gap = "" if not file_source.strip() else ("\n\n" if file_source.endswith("\n") else "\n\n\n")
        file_source = file_source + gap + f"def {qualname}():\n    pass\n"
    return splice_candidate(file_source, qualname, candidate)
