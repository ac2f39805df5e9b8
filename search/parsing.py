"""Reading real model output: reasoning and code from the programmer, a score from the critic.

Models do not follow formats reliably (small local ones least of all). Every function
here returns its best reading plus notes on what was off; none raises on bad output.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

CODE_HEADING = re.compile(r"^#{1,4}\s*code\b.*$", re.I | re.M)
REASONING_HEADING = re.compile(r"^#{1,4}\s*(reasoning|thoughts?|plan|analysis)\b.*$", re.I | re.M)


@dataclass
class ProgramAnswer:
    reasoning: str
    code: str
    notes: list[str] = field(default_factory=list)


def _defines(code: str, name: str) -> bool:
    short = name.rsplit(".", 1)[-1]
    return re.search(rf"^\s*(async\s+)?def\s+{re.escape(short)}\s*\(", code, re.M) is not None


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        return False


def _trim_to_valid(code: str) -> str:
    """Drop trailing lines until the code parses (a truncated answer loses its last line)."""
    lines = code.rstrip().splitlines()
    while lines and not _compiles("\n".join(lines)):
        lines.pop()
    return "\n".join(lines)


OPEN_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n")
PYTHON_LANGUAGES = ("", "python", "py", "python3")
MAX_ENDS = 40
"""Possible ends of one block tried by parsing (an answer full of fences stays cheap)."""


def _fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, code, offset) of every ``` block; an unclosed last one runs to the end.

    A Python block ends at the ``` that closes it, not at the first ``` after it: a
    docstring may hold a Markdown example (every public function of humanize has one),
    and a comment may quote a fence. Of the ``` that could close the block, the last
    one whose content parses as Python wins (a fence outside a string is a syntax error,
    so the block cannot run on past its real end into the prose and blocks after it).
    When no ending parses (a truncated answer, a wrong program), the first ``` standing
    alone on its line at most as indented as the opening one closes it (a docstring's
    fences are indented deeper); else the block runs to the end, as an unclosed one.
    Other languages end at the first ``` as in Markdown."""
    blocks: list[tuple[str, str, int]] = []
    pos = 0
    while True:
        opening = OPEN_FENCE.search(text, pos)
        if opening is None:
            return blocks
        language, body_start = opening.group(1).lower(), opening.end()
        ends = [m.start() for m in re.finditer("```", text[body_start:])]
        end = _block_end(text, body_start, ends, language, _indent_at(text, opening.start()))
        blocks.append((language, text[body_start:end], opening.start()))
        if end >= len(text):
            return blocks
        pos = end + 3


def _indent_at(text: str, offset: int) -> int:
    line_start = text.rfind("\n", 0, offset) + 1
    return offset - line_start if not text[line_start:offset].strip() else -1


def _block_end(text: str, body_start: int, ends: list[int], language: str, indent: int) -> int:
    """Where the block that starts at `body_start` ends (see `_fenced_blocks`)."""
    ends = [body_start + e for e in ends]
    if not ends:
        return len(text)
    if language not in PYTHON_LANGUAGES or len(ends) == 1:
        return ends[0]
    parsing = [e for e in ends[:MAX_ENDS] if _compiles(text[body_start:e])]
    if parsing:
        return parsing[-1]
    for e in ends:  # nothing parses: a fence alone on its line, no deeper than the opening one
        line_start = text.rfind("\n", 0, e) + 1
        line_end = text.find("\n", e)
        alone = not text[line_start:e].strip() and not text[e + 3 : len(text) if line_end < 0 else line_end].strip()
        if alone and (indent < 0 or e - line_start <= indent):
            return e
    return len(text)  # as an unclosed block: `parse_program` drops the tail that does not parse


def _choose_block(blocks: list[tuple[str, str, int]], entry_point: str) -> tuple[str, str, int] | None:
    """The block that defines `entry_point` (the last such, since models often draft then
    correct), else the longest python block; None when there are no blocks."""
    defining = [b for b in blocks if _defines(b[1], entry_point)]
    if defining:
        return defining[-1]
    python_blocks = [b for b in blocks if b[0] in PYTHON_LANGUAGES] or blocks
    return max(python_blocks, key=lambda b: len(b[1])) if blocks else None


def code_block_closed(text: str, entry_point: str) -> bool:
    """True when `text` ends with the fence that closes a Python block defining
    `entry_point`, so that `parse_program` reads that whole block from `text` as it is: a
    generation may stop here without cutting the candidate (what follows the block is prose
    or another draft, never part of this one).

    The closing fence must stand alone on its line, no deeper than the opening one, and the
    block up to it must parse: a fence inside a docstring (a Markdown example) leaves the
    string open, so the code up to it does not parse and the block goes on; one in a comment
    does not stand alone."""
    body = text.rstrip()
    if not body.endswith("```") or "```" not in body[:-3]:
        return False
    fence = len(body) - 3
    line_start = body.rfind("\n", 0, fence) + 1
    if body[line_start:fence].strip():
        return False
    blocks = _fenced_blocks(body)
    if not blocks:
        return False
    language, code, offset = blocks[-1]
    opening = OPEN_FENCE.match(body, offset)
    indent = _indent_at(body, offset)
    return (
        language in PYTHON_LANGUAGES
        and opening is not None
        and opening.end() + len(code) == fence
        and (indent < 0 or fence - line_start <= indent)
        and _compiles(code)
        and _defines(code, entry_point)
    )


def strip_fences(text: str, entry_point: str) -> str:
    """The code of the ``` block that `parse_program` would choose; `text` itself when it
    has no fences (a candidate pasted from a chat answer, say)."""
    chosen = _choose_block(_fenced_blocks(text), entry_point) if "```" in text else None
    return text if chosen is None else chosen[1]


def parse_program(text: str, entry_point: str, finish_reason: str = "") -> ProgramAnswer:
    """Split a programmer answer into reasoning and code.

    Preference: the fenced block that defines `entry_point` (the last such, since models
    often draft then correct), else the longest python block, else raw text from the
    first `def entry_point`. Prose before the code is the reasoning.
    """
    notes: list[str] = []
    if finish_reason == "length":
        notes.append("answer was cut off at the token limit")
    blocks = _fenced_blocks(text)
    if len(blocks) > 1:
        notes.append(f"{len(blocks)} code blocks; picked one")
    chosen = _choose_block(blocks, entry_point)
    if chosen is not None and not _defines(chosen[1], entry_point):
        notes.append(f"no code block defines {entry_point}")
    if chosen is not None:
        code, start = chosen[1], chosen[2]
        reasoning = text[:start]
    else:
        match = re.search(rf"^(async\s+)?def\s+{re.escape(entry_point.rsplit('.', 1)[-1])}\s*\(", text, re.M)
        if match is None:
            match = re.search(r"^(import |from |def |class )", text, re.M)
        if match is None:
            return ProgramAnswer(reasoning=text.strip(), code="", notes=notes + ["no code found in the answer"])
        notes.append("no fenced code block; took the code from the raw text")
        code, reasoning = text[match.start() :], text[: match.start()]
    reasoning = REASONING_HEADING.sub("", CODE_HEADING.sub("", reasoning)).strip()
    code = code.strip("\n")
    if code and not _compiles(code):
        trimmed = _trim_to_valid(code)
        if trimmed and _defines(trimmed, entry_point):
            notes.append("code did not parse; dropped its unfinished tail")
            code = trimmed
        else:
            notes.append("code does not parse")
    return ProgramAnswer(reasoning=reasoning, code=code, notes=notes)


SCORE_PATTERNS = [
    re.compile(r"score\s*[:=]?\s*\**\s*\[?\s*([0-5](?:\.\d+)?)\s*(?:/\s*5)?", re.I),
    re.compile(r"\[\[\s*([0-5](?:\.\d+)?)\s*\]\]"),
    re.compile(r"\b([0-5](?:\.\d+)?)\s*/\s*5\b"),
    re.compile(r"\b([0-5](?:\.\d+)?)\s+out\s+of\s+5\b", re.I),
]


@dataclass
class CriticAnswer:
    critique: str
    score: float | None
    notes: list[str] = field(default_factory=list)


def parse_critic(text: str) -> CriticAnswer:
    """Find the process score (1..5) in a critic answer; None when there is none."""
    critique = text.strip()
    for pattern in SCORE_PATTERNS:
        matches = pattern.findall(text)
        if matches:
            value = float(matches[-1])  # the verdict usually comes last
            clamped = min(5.0, max(1.0, value))
            notes = [] if clamped == value else [f"score {value} clamped to {clamped}"]
            return CriticAnswer(critique=critique, score=clamped, notes=notes)
    return CriticAnswer(critique=critique, score=None, notes=["critic gave no score; used the outcome score"])


def is_stub(code: str, entry_point: str) -> bool:
    """True when the target has no real body to start from: only a docstring, `pass`,
    `...` or `raise NotImplementedError` (or no code at all). Unparseable code is not a stub:
    its feedback (the error) is still worth showing."""
    if not code.strip():
        return True
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    name = entry_point.rsplit(".", 1)[-1]
    func = next(
        (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name), None
    )
    if func is None:
        return False
    body = func.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return all(_is_placeholder(stmt) for stmt in body)


def _is_placeholder(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis:
        return True
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False
