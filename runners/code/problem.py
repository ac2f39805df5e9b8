"""The problem statement a model sees: the target's docstring, plus or instead of what
the user wrote (`--problem FILE`, `--problem-text`).

The signature is not repeated here: the prompts show it next to the problem
(`Task.signature`). An empty result means there is nothing to go on; the caller asks the
user for a docstring or a problem rather than let a model guess.
"""

from __future__ import annotations

from pathlib import Path

MODES = ("append", "replace")


def build_problem(located, extra: str | None = None, mode: str = "append") -> str:
    """`mode="append"` adds `extra` after the docstring; `"replace"` uses `extra` alone
    (the docstring when `extra` is empty)."""
    if mode not in MODES:
        raise ValueError(f"problem mode {mode!r}: choose append or replace")
    base = (located.docstring or "").strip()
    extra = (extra or "").strip()
    if mode == "replace" and extra:
        return extra
    return "\n\n".join(p for p in (base, extra) if p)


def read_problem_file(path: str | Path) -> str:
    """The text of `--problem FILE`; OSError/UnicodeDecodeError for the caller to report."""
    return Path(path).read_bytes().decode("utf-8")
