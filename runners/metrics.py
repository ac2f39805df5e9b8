"""Static metrics of candidate code, for the outcome score: complexity, size, length.

Smaller and simpler programs score a little higher when they pass as many tests
(the paper's outcome score). Computed from the AST; code that does not parse gets
only its length.
"""

from __future__ import annotations

import ast

DECISIONS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.IfExp, ast.ExceptHandler, ast.With,
             ast.AsyncWith, ast.Assert, ast.comprehension, ast.match_case)


def cyclomatic(tree: ast.AST) -> int:
    """McCabe's number: one plus each branch point (boolean operators count per operand)."""
    count = 1
    for node in ast.walk(tree):
        if isinstance(node, DECISIONS):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
    return count


def static_metrics(code: str) -> dict[str, float]:
    lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]
    metrics: dict[str, float] = {"loc": float(len(lines)), "chars": float(len(code))}
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return metrics
    metrics["ast_nodes"] = float(sum(1 for _ in ast.walk(tree)))
    metrics["cyclomatic"] = float(cyclomatic(tree))
    return metrics
