"""The problem statement a model sees: the target's docstring and signature, plus or
instead of what the user wrote (`--problem FILE`, `--problem-text`)."""

from __future__ import annotations


def build_problem(located, extra: str | None = None, mode: str = "append") -> str:
    """`mode="append"` adds `extra` after the docstring; `"replace"` uses `extra` alone."""
    base = located.docstring.strip()
    extra = (extra or "").strip()
    if mode == "replace" and extra:
        return extra
    parts = [p for p in (base, extra) if p]
    return "\n\n".join(parts)
