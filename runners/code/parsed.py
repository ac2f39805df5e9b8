"""One parse of a source text per process, shared by everything that reads it.

A one-shot `orps check` reads the target's module in turn to locate the function, select
its tests, splice the candidate, check the splice and find the candidate's lines: a
5,000-line module (more-itertools) was parsed five times with `ast` and three with
tree-sitter, a few hundredths of a second each. The trees are cached by the exact text (a
changed file is another key, so a cache can never answer for an older text), a few at a
time. They are shared: callers read them and never change them.
"""

from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from typing import Any

KEPT = 16
"""Texts whose trees are kept (the most recently used)."""

_lock = threading.Lock()
_trees: OrderedDict[tuple[str, str | bytes], Any] = OrderedDict()


def _cached(kind: str, source: str | bytes, make):
    key = (kind, source)
    with _lock:
        tree = _trees.get(key)
        if tree is not None:
            _trees.move_to_end(key)
            return tree
    tree = make()  # raises as the parser does: nothing is kept for a text that does not parse
    with _lock:
        _trees[key] = tree
        while len(_trees) > KEPT:
            _trees.popitem(last=False)
    return tree


def python_tree(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, the same tree for the same text (`filename` only names
    the file in a SyntaxError). Read it, never change it."""
    return _cached("ast", source, lambda: ast.parse(source, filename=filename))


def syntax_tree(source: bytes):
    """tree-sitter's tree of `source` (Python), the same tree for the same bytes."""
    from runners.code.locate import _parser

    return _cached("tree-sitter", source, lambda: _parser().parse(source))
