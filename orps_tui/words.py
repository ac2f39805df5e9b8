"""Small wording helpers shared by the CLI's lines and the TUI's panels."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 test', '3 tests', '0 tests'."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def tests_selected(count: int) -> str:
    """'1 test selected', '3 tests selected'."""
    return f"{counted(count, 'test')} selected"
