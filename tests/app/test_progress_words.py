"""The progress lines say what the search does: the settings' samples/beam/rounds only
when no budget plan replaces them."""

from __future__ import annotations

import io

from orps_tui.commands.solve import ProgressPrinter
from search.events import Event


def first_line(settings: dict) -> str:
    out = io.StringIO()
    base = {"strategy": "orps", "model": "m", "samples": 8, "beam": 2, "rounds": 2}
    ProgressPrinter(out)(Event("run_started", {"settings": {**base, **settings}}))
    return out.getvalue()


def test_a_budget_plan_is_not_contradicted_by_the_settings():
    assert "samples=8" in first_line({})
    line = first_line({"budget_calls": 4})
    assert "samples=8" not in line and "from the budget" in line
