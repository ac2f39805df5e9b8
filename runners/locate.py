"""Find a function in the user's project and put a candidate in its place (tree-sitter).

A target is `path/to/file.py::name` or `path::Class.method` (nested classes work too).
`splice_candidate` replaces exactly the target's bytes: decorators, comments and the
rest of the file survive byte for byte. The candidate's imports, helper
functions, classes and constants are kept (example calls and prints are dropped, since
they would run at import time): imports go to the top of the module (after its docstring and `__future__`
imports, skipping ones already there), helpers and constants go right before the
target's top-level definition.
"""

from __future__ import annotations

import ast
import difflib
import textwrap
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
    docstring: str
    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    is_async: bool
    indent: str


def _definitions(node: Node, prefix: str = ""):
    """(qualname, outer node incl. decorators, def/class node) for every def and class."""
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


def _find(source: bytes, qualname: str):
    tree = _parser().parse(source)
    for name, outer, inner in _definitions(tree.root_node):
        if name == qualname and inner.type == "function_definition":
            return tree, outer, inner
    return tree, None, None


def _docstring(inner: Node) -> str:
    body = inner.child_by_field_name("body")
    if body is None or not body.children:
        return ""
    first = body.children[0]
    if first.type == "expression_statement" and first.children and first.children[0].type == "string":
        try:
            return ast.literal_eval(first.children[0].text.decode())
        except (ValueError, SyntaxError):
            return ""
    return ""


def _line_start(source: bytes, byte: int) -> int:
    return source.rfind(b"\n", 0, byte) + 1


def list_functions(path: Path) -> list[tuple[str, int, str]]:
    """(qualname, line, first docstring line) of every function and method in a file."""
    source = Path(path).read_bytes()
    tree = _parser().parse(source)
    out = []
    for name, outer, inner in _definitions(tree.root_node):
        if inner.type == "function_definition":
            doc = _docstring(inner).strip().splitlines()
            out.append((name, outer.start_point[0] + 1, doc[0] if doc else ""))
    return out


def locate(project: Path, target: str) -> Located:
    rel, _, qualname = target.partition("::")
    path = Path(project) / rel
    if not path.is_file():
        raise LocateError(f"no file {rel} in {project}")
    source = path.read_bytes()
    tree, outer, inner = _find(source, qualname)
    if outer is None:
        names = [n for n, _, i in _definitions(tree.root_node) if i.type == "function_definition"]
        close = difflib.get_close_matches(qualname, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else (f"; it defines {', '.join(names[:8])}" if names else "; it defines no functions")
        raise LocateError(f"no function {qualname} in {rel}{hint}")
    start = _line_start(source, outer.start_byte)
    indent = source[start:outer.start_byte].decode()
    text = source[start:outer.end_byte].decode()
    body = inner.child_by_field_name("body")
    signature = source[_line_start(source, inner.start_byte):body.start_byte].decode().strip() if body else ""
    return Located(
        path=Path(rel).as_posix(), qualname=qualname, source=textwrap.dedent(text), signature=signature,
        docstring=_docstring(inner), start_byte=start, end_byte=outer.end_byte,
        start_line=outer.start_point[0] + 1, end_line=outer.end_point[0] + 1,
        is_async=inner.text.startswith(b"async"), indent=indent,
    )


def _split_candidate(candidate: str, name: str):
    """The candidate's definition of `name` (decorators included), its imports, its other statements."""
    try:
        module = ast.parse(candidate)
    except SyntaxError as err:
        raise SpliceError(f"the candidate has a syntax error at line {err.lineno}: {err.msg}") from None
    lines = candidate.splitlines(keepends=True)

    def text_of(node) -> str:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "".join(lines[first - 1:node.end_lineno])

    target, imports, others = None, [], []
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            target = text_of(node)  # the last definition wins, as it would at run time
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(text_of(node).strip())
        elif isinstance(node, ast.ClassDef) and any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in node.body
        ):
            # The model rewrote the whole class: take the method out of it.
            method = next(n for n in reversed(node.body) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name)
            target = textwrap.dedent(text_of(method))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            others.append(text_of(node).rstrip())  # helpers and constants the definition may use
        # Anything else (example calls, prints, `if __name__ == "__main__":`) would run at
        # import time in the user's module: dropped.
    if target is None:
        raise SpliceError(f"the candidate does not define {name}")
    return textwrap.dedent(target), imports, others


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
    body_indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    doc_node = body.children[0]
    doc_text = textwrap.indent(textwrap.dedent(" " * doc_node.start_point[1] + doc_node.text.decode()).strip("\n"), body_indent)
    return "".join(lines[:first]) + doc_text + "\n" + "".join(lines[first:])


def _import_insert_point(source: bytes) -> int:
    """After the module docstring and `from __future__` imports."""
    tree = _parser().parse(source)
    point = 0
    for child in tree.root_node.children:
        if child.type == "comment":
            continue
        text = child.text.decode()
        is_doc = child.type == "expression_statement" and child.children and child.children[0].type == "string"
        if (is_doc and point == 0) or (child.type == "future_import_statement" or text.startswith("from __future__")):
            point = child.end_byte
            continue
        break
    return point


def splice_candidate(file_source: str, qualname: str, candidate: str) -> str:
    """The file with `qualname` replaced by the candidate's definition (see module doc)."""
    source = file_source.encode()
    _, outer, inner = _find(source, qualname)
    if outer is None:
        raise SpliceError(f"no function {qualname} in the file")
    name = qualname.rsplit(".", 1)[-1]
    definition, imports, others = _split_candidate(candidate, name)
    definition = _keep_docstring(definition, inner)
    start = _line_start(source, outer.start_byte)
    indent = source[start:outer.start_byte].decode()
    if outer.type == "decorated_definition" and not definition.lstrip().startswith("@"):
        # The model dropped the decorators (@staticmethod, @cache...): keep the original ones.
        decorators = source[start:inner.start_byte].decode()
        definition = textwrap.dedent(decorators) + definition
    new_def = textwrap.indent(definition.rstrip("\n"), indent, lambda line: True).encode()
    top_start = start
    if indent:  # a method: helpers go before the class that holds it
        tree = _parser().parse(source)
        for child in tree.root_node.children:
            if child.start_byte <= outer.start_byte < child.end_byte:
                top_start = _line_start(source, child.start_byte)
    helpers = "".join(h + "\n\n\n" for h in others if h.strip() and h.strip().encode() not in source).encode()
    out = source[:top_start] + helpers + source[top_start:start] + new_def + source[outer.end_byte:]
    existing = {line.strip() for line in file_source.splitlines()}
    new_imports = [i for i in dict.fromkeys(imports) if i not in existing]
    if new_imports:
        point = _import_insert_point(out)
        block = "\n".join(new_imports).encode()
        if point == 0:
            out = block + b"\n" + out
        else:
            out = out[:point] + b"\n" + block + out[point:]
    result = out.decode()
    try:
        ast.parse(result)
    except SyntaxError as err:
        raise SpliceError(f"the spliced file does not parse (line {err.lineno}: {err.msg})") from None
    return result
