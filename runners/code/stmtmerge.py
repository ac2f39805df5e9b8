"""Keep the user's text for every statement a candidate did not change.

Models rewrite more than they change: they re-quote strings, drop or move comments,
reflow calls. A patch should show the change only. `merge_body` walks the original's
and the candidate's function bodies statement by statement (aligned by their syntax
trees, as difflib aligns lines): a statement whose tree is the same keeps the original's
lines (with the comments and blank lines before it and on its lines, quote style and
layout); a compound statement (if, for, while, with, try) whose header is the same is
merged block by block, its header lines and `else:`/`except:` lines the original's; only
statements that really differ take the candidate's text, re-indented to the original's
column. The original's docstring stays in the first place; the comments that follow it
stay after it.

The result is checked: its statements must have the candidate's trees. When anything
does not fit (several statements on one line, a one-line body), `merge_body` gives
None and the caller keeps the candidate's text.
"""

from __future__ import annotations

import ast
import difflib

SIMILAR = 0.6
"""How alike (difflib's ratio of their code) a changed statement and the user's must be
for the user's comments before it to stay."""
COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)
_Compound = ast.If | ast.For | ast.AsyncFor | ast.While | ast.With | ast.AsyncWith | ast.Try
"""One of COMPOUND, for annotations."""


def _key(node: ast.AST) -> str:
    return ast.dump(node, include_attributes=False)


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _last_line(node: ast.stmt) -> int:
    """The statement's last line (parsed code always has it)."""
    assert node.end_lineno is not None
    return node.end_lineno


def _blocks(node: _Compound) -> list[list[ast.stmt]]:
    """The statement lists of a compound statement, in source order."""
    if isinstance(node, ast.Try):
        return [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
    return [node.body, node.orelse] if hasattr(node, "orelse") else [node.body]


def _shape(node: _Compound) -> str:
    """The statement with its blocks emptied: two with the same shape differ only inside."""
    import copy

    bare = copy.copy(node)  # of node's type, with node's lists
    if isinstance(bare, ast.Try):
        bare.handlers = [ast.ExceptHandler(type=h.type, name=h.name, body=[]) for h in bare.handlers]
        bare.body, bare.orelse, bare.finalbody = [], [], []
    else:
        bare.body = []
        if not isinstance(bare, (ast.With, ast.AsyncWith)):  # the others have an else block
            bare.orelse = []
    return _key(bare) + str([bool(b) for b in _blocks(node)])


class _Side:
    """One side (original or candidate): its lines and the lines inside multi-line strings."""

    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)
        self.scale = (0, 0)
        """(the user's indentation step, this side's): `moved` converts one to the other."""
        self.strings: set[int] = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(node, "value", ""), (str, bytes)):
                if node.end_lineno and node.end_lineno > node.lineno:
                    self.strings.update(range(node.lineno + 1, node.end_lineno + 1))

    def text(self, first: int, last: int) -> str:
        """Lines first..last, 1-based, inclusive."""
        return "".join(self.lines[first - 1 : last])

    def moved(self, first: int, last: int, remove: int, add: str) -> str:
        """Lines first..last re-indented from column `remove` to `add` (strings untouched)."""
        out = []
        for number in range(first, last + 1):
            line = self.lines[number - 1]
            if number in self.strings:
                out.append(line)
                continue
            body = line.lstrip(" \t")
            if not body.strip():
                out.append(body if body else line[len(line.rstrip("\r\n")) :])
                continue
            lead = line[: len(line) - len(body)]
            extra = lead[min(remove, len(lead)) :]
            to, unit = self.scale
            if unit and to != unit and extra == " " * len(extra) and len(extra) % unit == 0:
                extra = " " * (len(extra) // unit * to)  # the candidate's 2-space levels as the user's 4
            out.append(add + extra + body)
        return "".join(out)


class _NoMerge(Exception):
    pass


def _check_separate(stmts: list[ast.stmt], after: int) -> None:
    """Each statement on lines of its own, after line `after`; else _NoMerge."""
    for node in stmts:
        if _first_line(node) <= after:
            raise _NoMerge
        after = _last_line(node)


def _merge_list(o: _Side, c: _Side, o_stmts, c_stmts, o_from: int, c_from: int) -> str:
    """The merged text of two statement lists. `o_from`/`c_from`: the first line that
    belongs to each list's first statement (comments before it included)."""
    _check_separate(o_stmts, o_from - 1)
    _check_separate(c_stmts, c_from - 1)
    o_col = o.lines[o_stmts[0].lineno - 1][: o_stmts[0].col_offset] if o_stmts else ""
    c_col = c_stmts[0].col_offset if c_stmts else 0

    def o_start(i: int) -> int:
        return o_from if i == 0 else o_stmts[i - 1].end_lineno + 1

    def c_start(j: int) -> int:
        return c_from if j == 0 else c_stmts[j - 1].end_lineno + 1

    def candidate_text(j1: int, j2: int) -> str:
        return c.moved(c_start(j1), c_stmts[j2 - 1].end_lineno, c_col, o_col) if j2 > j1 else ""

    def changed(i: int, j: int) -> str:
        """Statement j of the candidate in the place of statement i of the original."""
        try:
            return _merge_compound(o, c, o_stmts[i], c_stmts[j], o_start(i), c_start(j), o_col)
        except _NoMerge:
            # The blank lines and comments before it stay the user's when it is still
            # much the same statement (a comment about the old one may not fit a new
            # one) and the candidate wrote no comments there.
            c_first, o_first = _first_line(c_stmts[j]), _first_line(o_stmts[i])
            c_gap = c.text(c_start(j), c_first - 1)
            similar = difflib.SequenceMatcher(a=ast.unparse(o_stmts[i]), b=ast.unparse(c_stmts[j])).ratio() >= SIMILAR
            keep = similar and "#" not in c_gap
            gap = o.text(o_start(i), o_first - 1) if keep else c.moved(c_start(j), c_first - 1, c_col, o_col)
            return gap + c.moved(c_first, c_stmts[j].end_lineno, c_col, o_col)

    out = []
    matcher = difflib.SequenceMatcher(a=[_key(s) for s in o_stmts], b=[_key(s) for s in c_stmts], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.append(o.text(o_start(i1), o_stmts[i2 - 1].end_lineno))
            continue
        # Statements of the same kind (an assignment to the same names, a return, an if
        # on the same condition...) are the same statement changed; the rest are new or gone.
        coarse = difflib.SequenceMatcher(
            a=[_kind(s) for s in o_stmts[i1:i2]], b=[_kind(s) for s in c_stmts[j1:j2]], autojunk=False
        )
        for ctag, a1, a2, b1, b2 in coarse.get_opcodes():
            if ctag == "equal":
                out.extend(changed(i1 + a, j1 + b) for a, b in zip(range(a1, a2), range(b1, b2)))
            elif ctag != "delete":
                out.append(candidate_text(j1 + b1, j1 + b2))
    return "".join(out)


def _kind(node: ast.stmt) -> str:
    """What a statement is, whatever its values: `x = ...`, `return ...`, `f(...)`, `if cond:`."""
    if isinstance(node, ast.Assign):
        return "=" + "".join(_key(t) for t in node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return type(node).__name__ + _key(node.target)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return "call" + _key(node.value.func)
    if isinstance(node, COMPOUND):
        return _shape(node)
    return type(node).__name__


def _merge_compound(o: _Side, c: _Side, on: ast.stmt, cn: ast.stmt, o_from: int, c_from: int, o_col: str) -> str:
    """Two compound statements of the same shape, merged block by block; the original's
    header, `else:` and `except ...:` lines (and the comments before each block)."""
    if (
        not isinstance(on, COMPOUND)
        or type(on) is not type(cn)
        or not isinstance(cn, COMPOUND)  # (so it is, being of on's type)
        or _shape(on) != _shape(cn)
    ):
        raise _NoMerge
    out, o_at, c_at = [], o_from, c_from
    for o_block, c_block in zip(_blocks(on), _blocks(cn)):
        if not o_block:
            continue
        o_first, c_first = _first_line(o_block[0]), _first_line(c_block[0])
        if o_first <= o_at or c_first <= c_at:
            raise _NoMerge  # `if x: return` on one line
        # The header lines: from the end of the previous block to the line that opens this one.
        o_head_end = _opening_line(o, o_at, o_first)
        c_head_end = _opening_line(c, c_at, c_first)
        out.append(o.text(o_at, o_head_end))
        out.append(_merge_list(o, c, o_block, c_block, o_head_end + 1, c_head_end + 1))
        o_at, c_at = _last_line(o_block[-1]) + 1, _last_line(c_block[-1]) + 1
    return "".join(out)


def _opening_line(side: _Side, start: int, first_stmt: int) -> int:
    """The last line, from `start` to before `first_stmt`, that is code (the `if ...:` or
    `else:` line): comments after it belong to the block's first statement."""
    last = start
    for number in range(start, first_stmt):
        stripped = side.lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            last = number
    return last


def merge_body(original: str, candidate: str, head_lines_o: int, head_lines_c: int) -> str | None:
    """The candidate's function body, its unchanged statements in the original's text.

    `original` and `candidate` are function definitions at column 0; `head_lines_*` how
    many of their lines are the decorators and `def` lines. Returns the body's text (at
    the original's indentation, ending with a newline) with the original's docstring
    first when it has one; None when the two cannot be merged (see module doc)."""
    try:
        o, c = _Side(original), _Side(candidate)
        of, cf = ast.parse(original).body[0], ast.parse(candidate).body[0]
    except (SyntaxError, IndexError, ValueError):
        return None
    if not isinstance(of, (ast.FunctionDef, ast.AsyncFunctionDef)) or not isinstance(
        cf, (ast.FunctionDef, ast.AsyncFunctionDef)
    ):
        return None
    o_body, c_body = list(of.body), list(cf.body)
    if o.lines[o_body[0].lineno - 1][: o_body[0].col_offset].strip(" ") == "":  # spaces, not tabs
        c.scale = (o_body[0].col_offset, c_body[0].col_offset)
    o_from, c_from = head_lines_o + 1, head_lines_c + 1
    if _first_line(o_body[0]) < o_from or _first_line(c_body[0]) < c_from:
        return None  # a one-line `def f(): return x`
    out = []
    if _is_docstring(o_body[0]):
        out.append(o.text(o_from, _last_line(o_body[0])))
        o_from = _last_line(o_body[0]) + 1
        o_body = o_body[1:]
        if _is_docstring(c_body[0]):  # the user's docstring stays; the candidate's goes
            c_from = _last_line(c_body[0]) + 1
            c_body = c_body[1:]
    if not c_body:
        return "".join(out) if out else None
    try:
        if not o_body:  # only a docstring before: every statement is the candidate's
            col = c_body[0].col_offset
            indent = o.lines[of.body[0].lineno - 1][: of.body[0].col_offset]
            _check_separate(c_body, c_from - 1)
            out.append(c.moved(c_from, _last_line(c_body[-1]), col, indent))
        else:
            out.append(_merge_list(o, c, o_body, c_body, o_from, c_from))
    except _NoMerge:
        return None
    merged = "".join(out)
    if not merged.endswith("\n"):
        merged += "\n"
    try:  # the merge must give exactly the candidate's statements
        wrapped = ast.parse("def _():\n" + merged).body[0]
    except SyntaxError:
        return None
    assert isinstance(wrapped, ast.FunctionDef)  # the `def _():` above
    check = wrapped.body
    if _is_docstring(of.body[0]):
        check = check[1:]
    return merged if [_key(s) for s in check] == [_key(s) for s in c_body] else None
