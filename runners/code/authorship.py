"""Which lines of a file are the candidate's, for the checks inside the test process that
judge what the candidate's code does (`runners/testing/pytest_plugin.py`: inspecting the
call stack, reading the tests, skipping from its own code...).

The rest of the file is the user's code, the same in the original and in every candidate:
semver's `@deprecated` decorator finds its caller with `inspect.currentframe()` in the
module that holds the functions it decorates, and that is not the candidate doing it.
Counting the whole file made every candidate there (and the user's own code) suspicious.
"""

from __future__ import annotations

import ast
import difflib

from runners.code.parsed import python_tree

Span = tuple[int, int]
"""First and last line, 1-based, inclusive."""


def candidate_lines(before: str, after: str, qualname: str | None = None) -> list[Span] | None:
    """The lines of `after` the candidate wrote: the target `qualname`'s definition
    (decorators included) and every line that differs from `before`, each widened to the
    whole function around it (a statement outside any function: to that statement).
    None when `after` does not parse: then the whole file counts as the candidate's."""
    try:
        tree = python_tree(after)
    except (SyntaxError, ValueError, RecursionError):
        return None
    spans: list[Span] = _definitions(tree, qualname) if qualname else []
    changed = _changed(before, after)
    functions, statements = _spans(tree) if changed else ([], [])
    for line in changed:
        around = [s for s in functions if s[0] <= line <= s[1]]
        if around:
            spans.append(min(around, key=lambda s: s[0]))  # the outermost function
            continue
        inside = [s for s in statements if s[0] <= line <= s[1]]
        spans.append(min(inside, key=lambda s: s[1] - s[0]) if inside else (line, line))
    return _merged(spans)


def _changed(before: str, after: str) -> list[int]:
    """Lines of `after` (1-based) inserted or replaced; a deletion marks the lines on both
    sides of where it was."""
    old, new = before.splitlines(), after.splitlines()
    # A candidate changes one region of a long module: matching only what lies between the
    # common head and tail keeps this linear (difflib on all of more-itertools took 0.8 s).
    shorter = min(len(old), len(new))
    head = 0
    while head < shorter and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < shorter - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, old[head : len(old) - tail], new[head : len(new) - tail], autojunk=False)
    out: list[int] = []
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        j1, j2 = j1 + head, j2 + head
        if tag in ("replace", "insert"):
            out += [n for n in range(j1 + 1, j2 + 1) if new[n - 1].strip()]  # a blank line runs nothing
        elif tag == "delete":
            out += [n for n in (j1, j1 + 1) if 1 <= n <= len(new)]
    return out


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])


def _spans(tree: ast.Module) -> tuple[list[Span], list[Span]]:
    functions: list[Span] = []
    statements: list[Span] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.end_lineno is not None:
            span = (_first_line(node), node.end_lineno)
            (functions if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else statements).append(span)
    return functions, statements


def _definitions(tree: ast.Module, qualname: str) -> list[Span]:
    """Every definition of `qualname` (each branch of `if PYPY: def f ... else: def f`),
    found inside module- and class-level if/try/with blocks too."""
    found: list[Span] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and prefix + node.name == qualname:
                found.append((_first_line(node), node.end_lineno or node.lineno))
            elif isinstance(node, ast.ClassDef) and qualname.startswith(prefix + node.name + "."):
                visit(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                    visit(block, prefix)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body, prefix)

    visit(tree.body, "")
    return found


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out
