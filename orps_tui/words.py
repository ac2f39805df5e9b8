"""Small wording helpers shared by the CLI's lines and the TUI's panels."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 test', '3 tests', '0 tests'."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def tests_selected(count: int) -> str:
    """'1 test selected', '3 tests selected'."""
    return f"{counted(count, 'test')} selected"


def evaluated(d: dict) -> str:
    """A `node_evaluated` event's result: 'failed   2/4 passed', or for a candidate that never
    reached the tests (no code, a syntax error) 'error    ' and why (its test count means nothing)."""
    if d["verdict"] == "error" and d.get("message"):
        return f"{'error':<8} {d['message']}"
    return f"{d['verdict']:<8} {d['passed']}/{d['total']} passed"
