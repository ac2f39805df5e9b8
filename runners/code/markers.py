"""`# orps: <request>` marker comments: which function each one asks about (tree-sitter).

A marker belongs to a function when it is the comment directly above its `def` (or its
decorators), or a comment before the first statement of its body:

    # orps: make this faster            def mean(xs):
    def mean(xs):                           # orps: handle an empty list
        ...                                 return sum(xs) / len(xs)

`strip_marker` removes a function's marker line, so a proposal's patch does too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from runners.code.locate import _definitions, _parser, _text

MARKER = re.compile(r"#\s*orps:\s*(?P<request>.*\S)")
FASTER_WORDS = re.compile(r"\b(fast|faster|fastest|speed|speed up|quicker|slow|perf|performance|optimi[sz]e)\b", re.I)


@dataclass(frozen=True)
class Marker:
    qualname: str
    request: str
    line: int
    """1-based line of the marker comment."""

    @property
    def goal(self) -> str:
        """`faster` when the request asks for speed ("make this faster"), else `fix`."""
        return "faster" if FASTER_WORDS.search(self.request) else "fix"


def _marker_of(comment: Node) -> str | None:
    match = MARKER.fullmatch(_text(comment).decode(errors="replace").strip())
    return match.group("request") if match else None


def _comments_above(outer: Node) -> list[Node]:
    """The comments right above a definition (no blank line between them and the def)."""
    out, node, line = [], outer.prev_sibling, outer.start_point[0]
    while node is not None and node.type == "comment" and node.end_point[0] == line - 1:
        out.append(node)
        line = node.start_point[0]
        node = node.prev_sibling
    return out


def _comments_at_body_start(inner: Node) -> list[Node]:
    """Comments before the first statement of a function body (tree-sitter puts the first
    ones before the block node, as siblings after the `:`)."""
    out = [c for c in inner.children if c.type == "comment"]
    body = inner.child_by_field_name("body")
    if body is not None:
        for child in body.children:
            if child.type != "comment":
                break
            out.append(child)
    return out


def find_markers(source: str) -> list[Marker]:
    """Every function marker in a module (one per function: the first it has)."""
    tree = _parser().parse(source.encode())
    found: list[Marker] = []
    for qualname, outer, inner in _definitions(tree.root_node):
        if inner.type != "function_definition":
            continue
        for comment in [*reversed(_comments_above(outer)), *_comments_at_body_start(inner)]:
            request = _marker_of(comment)
            if request:
                found.append(Marker(qualname, request, comment.start_point[0] + 1))
                break
    return found


def strip_marker(source: str, qualname: str) -> str:
    """`source` without the marker line of `qualname` (unchanged when it has none)."""
    marker = next((m for m in find_markers(source) if m.qualname == qualname), None)
    if marker is None:
        return source
    lines = source.splitlines(keepends=True)
    line = lines[marker.line - 1]
    if MARKER.fullmatch(line.strip()):
        del lines[marker.line - 1]
    else:  # a trailing comment on a code line: drop the comment only
        lines[marker.line - 1] = line[: line.index("#")].rstrip() + line[len(line.rstrip("\r\n")) :]
    return "".join(lines)
