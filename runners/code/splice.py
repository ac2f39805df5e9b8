"""Put a candidate in the target's place in its module (see `runners.code.locate` for finding it).

Kept whole because splicing is one algorithm over parsed code (split the candidate, merge each
definition, place its imports and helpers) whose helpers are private to it.

`splice_candidate` replaces exactly the target's bytes: comments and the rest of the
file survive byte for byte. Around the candidate's definition of the target:

- the user's signature, decorators and docstring stay when the candidate keeps the
  interface (`_keep_signature`, `_keep_docstring`): only the body changes;
- in the body, every statement the candidate did not change keeps the user's text
  (comments, blank lines, quote style: `runners.code.stmtmerge`), so the patch shows the
  change only and the function's own source (or ast.unparse of it) changes nothing;
- imports go to the top of the module (after its docstring and `__future__` imports, at
  the end of its leading import block), skipping names already imported there;
- helper functions, classes and constants go right before the target's top-level
  definition (the class, for a method), skipping names the module already defines — a
  model often echoes the whole module back, and the user's own code must win;
- imports and helpers that the definition does not use (directly or through a helper it
  uses) are left out;
- anything else (example calls, prints, `if __name__ == "__main__":`) is dropped, since
  it would run at import time in the user's module.

`splice_or_add` also adds a function that does not exist yet (`runners.code.locate.new_target`).
Re-indentation never touches the inside of multi-line strings, so their values survive.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TypeGuard

from tree_sitter import Node

from runners.code.locate import (
    _docstring,
    _find,
    _functions,
    _line_start,
    _reindent,
    _string_lines,
    _text,
    did_you_mean,
)
from runners.code.parsed import python_tree, syntax_tree
from runners.code.stmtmerge import merge_body
from search.parsing import strip_fences


class SpliceError(Exception):
    """The candidate cannot replace the target (syntax error, target not defined)."""


# ---------------------------------------------------------------- candidate side


def _parse_candidate(candidate: str, name: str) -> tuple[ast.Module, str]:
    """Parse the candidate; one written indented (a method copied out of its class) is
    dedented first. Returns the module and the (dedented) text it was parsed from."""
    try:
        return ast.parse(candidate), candidate
    except SyntaxError as err:
        first_error = err
    unfenced = strip_fences(candidate, name)  # still in a chat answer's ```python fence
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


def _flat(body: list[ast.stmt]):
    """The statements of a module (or class) body, those inside if/try/with blocks too:
    what runs at import time and binds the module's names. The branch most likely to run
    comes last (an if's first branch, a try's body and else), so that "the last
    definition wins" picks it."""
    for node in body:
        if isinstance(node, ast.If):
            blocks = [node.orelse, node.body]
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            blocks = [*(h.body for h in node.handlers), node.body, node.orelse, node.finalbody]  # type: ignore[attr-defined]  # TryStar (Python 3.11+) has them too
        elif isinstance(node, ast.With):
            blocks = [node.body]
        else:
            yield node
            continue
        for block in blocks:
            yield from _flat(block)


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
    imports: list[ast.Import | ast.ImportFrom]
    helpers: list[tuple[set[str], str]]
    """(names it defines, text) of every helper, in order."""


def _split_candidate(candidate: str, name: str) -> _Parts:
    module, text = _parse_candidate(candidate, name)
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
        return "".join(lines[first - 1 : end])

    def is_target(node) -> TypeGuard[ast.FunctionDef | ast.AsyncFunctionDef]:
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
            assert method.end_lineno is not None  # parsed code has it
            method_text = text_of(method)
            definition = _reindent(
                method_text,
                method.col_offset,
                "",
                {n - first + 1 for n in _string_lines(text) if first <= n <= method.end_lineno},
            )
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            helpers.append((_names_defined(node), text_of(node).rstrip()))
    if definition is None:  # the model echoed a version check or optional import around it
        nested = [n for n in _flat(module.body) if is_target(n)]
        if nested:
            node = nested[-1]
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            assert node.end_lineno is not None  # parsed code has it
            definition = _reindent(
                text_of(node),
                node.col_offset,
                "",
                {n - first + 1 for n in _string_lines(text) if first <= n <= node.end_lineno},
            )
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
    assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))  # the target's definition
    if ast.get_docstring(func) is not None or not func.body:
        return definition
    lines = definition.splitlines(keepends=True)
    first = func.body[0].lineno - 1
    if func.body[0].lineno == func.lineno:  # `def f(): return x` on one line: leave it
        return definition
    body_indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    doc_node = body.children[0]
    # The original docstring statement, moved from its column to the candidate's body column.
    doc_text = " " * doc_node.start_point[1] + _text(doc_node).decode()
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
            ast.parse("".join(lines[func.lineno - 1 : end]) + "    pass\n")
        except SyntaxError:
            continue
        return "".join(lines[: func.lineno - 1]), "".join(lines[func.lineno - 1 : end]), "".join(lines[end:]), func
    return None


def _parameters(func) -> tuple:
    """What callers see of a signature: kinds, names, which have defaults, async or not."""
    a = func.args
    return (
        isinstance(func, ast.AsyncFunctionDef),
        [p.arg for p in a.posonlyargs],
        [p.arg for p in a.args],
        a.vararg.arg if a.vararg else None,
        [p.arg for p in a.kwonlyargs],
        a.kwarg.arg if a.kwarg else None,
        len(a.defaults),
        [d is not None for d in a.kw_defaults],
    )


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
    if (
        ast.get_docstring(orig[3]) is not None
        and ast.get_docstring(func) is not None
        and len(func.body) > 1
        and func.body[1].lineno > doc.end_lineno
    ):
        lines = body.splitlines(keepends=True)
        first = doc.lineno - 1 - len((cand_decorators + cand_def).splitlines())
        body = "".join(lines[:first] + lines[first + doc.end_lineno - doc.lineno + 1 :])
    return decorators + orig[1] + body


def _merge_definition(definition: str, original: str) -> str | None:
    """The candidate's definition with the user's text wherever the candidate did not
    change anything: the user's decorators and `def` lines when the interface is the
    same (as `_keep_signature`), the user's docstring, and every unchanged statement as
    the user wrote it (`runners.code.stmtmerge`). None when the two cannot be merged."""
    cand, orig = _split_header(definition), _split_header(original)
    if cand is None or orig is None:
        return None
    cand_decorators, cand_def, _, func = cand
    orig_decorators, orig_def, _, orig_func = orig
    if _parameters(func) == _parameters(orig_func):
        own = {ast.unparse(d) for d in orig_func.decorator_list}
        header = (
            orig_decorators if all(ast.unparse(d) in own for d in func.decorator_list) else cand_decorators
        ) + orig_def
    else:
        header = cand_decorators + cand_def
    body = merge_body(
        original,
        definition,
        len((orig_decorators + orig_def).splitlines()),
        len((cand_decorators + cand_def).splitlines()),
    )
    if body is None:
        return None
    # Comments after the last statement (still in the body): the user's, unless the
    # candidate changed that statement and wrote its own.
    orig_tail = "".join(original.splitlines(keepends=True)[orig_func.end_lineno :])
    cand_tail = "".join(definition.splitlines(keepends=True)[func.end_lineno :])
    same_end = ast.dump(orig_func.body[-1]) == ast.dump(func.body[-1])
    tail = (
        orig_tail
        if same_end or not cand_tail.strip()
        else _reindent(
            cand_tail,
            func.body[-1].col_offset,
            original.splitlines()[orig_func.body[-1].lineno - 1][: orig_func.body[-1].col_offset],
        )
    )
    return header + body + tail


def signature_change(old_file: str, new_file: str, qualname: str) -> tuple[str, str] | None:
    """(before, after) `def` lines of `qualname` when the new file changes its interface
    (what `_keep_signature` let through); None when the signature is the user's."""

    def signature(text: str) -> str | None:
        source = text.encode()
        _, outer, inner = _find(source, qualname)
        body = inner.child_by_field_name("body") if inner is not None else None
        if body is None:
            return None
        header = source[_line_start(source, inner.start_byte) : body.start_byte].decode()
        return " ".join(header.split())

    before, after = signature(old_file), signature(new_file)
    return (before, after) if before and after and before != after else None


def _module_layout(source: bytes):
    """(future point, import point, top-level names, imported keys) of a module.

    The future point is after the docstring and `from __future__` imports; the import
    point is after the leading block of imports that follows (or the future point)."""
    tree = syntax_tree(source)
    future = imports_end = 0
    seen_other = False
    for child in tree.root_node.children:
        if child.type == "comment":
            continue
        is_doc = child.type == "expression_statement" and child.children and child.children[0].type == "string"
        if not seen_other and (
            child.type == "future_import_statement" or (is_doc and future == 0 and imports_end == 0)
        ):
            future = imports_end = child.end_byte
            continue
        if not seen_other and child.type in ("import_statement", "import_from_statement"):
            imports_end = child.end_byte
            continue
        seen_other = True
    try:
        module = python_tree(source)
    except SyntaxError:
        module = ast.Module(body=[], type_ignores=[])
    names, imported = set(), set()
    for node in _flat(module.body):
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


def _new_imports(imports: list[ast.Import | ast.ImportFrom], imported: set[tuple]) -> list[str]:
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
        raise SpliceError(f"no function {qualname} in the file{did_you_mean(qualname, _functions(tree.root_node))}")
    name = qualname.rsplit(".", 1)[-1]
    parts = _split_candidate(candidate, name)
    start = _line_start(source, outer.start_byte)
    indent = source[start : outer.start_byte].decode()
    original = _reindent(source[start : outer.end_byte].decode(), len(indent), "")
    definition = _merge_definition(parts.definition, original) or _keep_docstring(
        _keep_signature(parts.definition, original), inner
    )
    if outer.type == "decorated_definition" and not definition.lstrip().startswith("@"):
        # The model dropped the decorators (@staticmethod, @cache...): keep the original ones.
        decorators = source[start : inner.start_byte].decode()
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
    helper_parts, import_parts = _used_parts(definition, parts.helpers, parts.imports)
    helpers = []
    for defined, text in helper_parts:
        if defined & names or defined & {name}:
            continue  # the module already has it (often the model echoing the file back): the user's wins
        names |= defined
        helpers.append(text + "\n\n\n")
    out = source[:top_start] + "".join(helpers).encode() + source[top_start:start] + new_def + source[outer.end_byte :]

    new_imports = _new_imports(import_parts, set(imported))
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
        python_tree(result)  # kept: the candidate's lines are found in the same text next
    except SyntaxError as err:
        raise SpliceError(f"the spliced file does not parse (line {err.lineno}: {err.msg})") from None
    return result.replace("\n", "\r\n") if crlf else result


def _names_used(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _used_parts(definition: str, helpers: list[tuple[set[str], str]], imports: list[ast.Import | ast.ImportFrom]):
    """The helpers and imports the definition needs (directly or through the helpers it
    needs): a model's unused imports and helpers are not put in the user's module."""
    used = _names_used(definition)
    kept: set[int] = set()
    grew = True
    while grew:
        grew = False
        for k, (defined, text) in enumerate(helpers):
            if k not in kept and defined & used:
                kept.add(k)
                used |= _names_used(text)
                grew = True
    needed_imports = []
    for node in imports:
        aliases = [
            a
            for a in node.names
            if a.name == "*" or (a.asname or (a.name.split(".")[0] if isinstance(node, ast.Import) else a.name)) in used
        ]
        if aliases:
            needed_imports.append(node if len(aliases) == len(node.names) else _single(node, *aliases))
    return [h for k, h in enumerate(helpers) if k in kept], needed_imports


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


def splice_or_add(file_source: str, qualname: str, candidate: str) -> str:
    """`splice_candidate`, except that a missing top-level function is added at the end
    of the module (which may be empty: a new file)."""
    if "." not in qualname and _find(file_source.encode(), qualname)[1] is None:
        gap = "" if not file_source.strip() else ("\n\n" if file_source.endswith("\n") else "\n\n\n")
        file_source = file_source + gap + f"def {qualname}():\n    pass\n"
    return splice_candidate(file_source, qualname, candidate)
