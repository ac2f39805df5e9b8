"""The progress lines say what the search does: the settings' samples/beam/rounds only
when no budget plan replaces them."""

from __future__ import annotations

import contextlib
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


def node_line(**data) -> str:
    out = io.StringIO()
    evaluated = {"node": "0-0", "passed": 0, "total": 1, "runtime_s": None, "message": "", **data}
    ProgressPrinter(out)(Event("node_evaluated", evaluated))
    return out.getvalue().rstrip("\n")


def test_a_candidate_that_never_reached_the_tests_says_why_instead_of_a_test_count():
    assert node_line(verdict="error", message="the answer contained no code") == (
        "  node 0-0      error    the answer contained no code"
    )
    line = node_line(verdict="error", message="the candidate has a syntax error at line 2: \x1b[2J'(' was never closed")
    assert line == "  node 0-0      error    the candidate has a syntax error at line 2: '(' was never closed"
    assert node_line(verdict="failed", passed=2, total=4, message="2 failed") == "  node 0-0      failed   2/4 passed"


def summary(best: dict) -> str:
    from orps_tui.commands.solve import print_summary

    doc = {
        "run_id": "r",
        "status": "unsolved",
        "stop_reason": "rounds",
        "best": {"id": "0-0", "total": 3, **best},
        "original": {"passed": 1, "total": 3},
        "patch": "",
        "usage": {"calls": 4, "cached_calls": 0, "tokens": 100, "cost_usd": 0.0},
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_summary(doc)
    return out.getvalue().splitlines()[0]


def test_the_summary_of_a_search_where_no_candidate_ran_the_tests_does_not_count_passes():
    assert summary({"verdict": "error", "passed": 0}) == (
        "run r: unsolved (rounds), no candidate passed a test (the best, node 0-0, is an error); "
        "your code passes 1/3 tests"
    )
    assert summary({"verdict": "failed", "passed": 2}) == "run r: unsolved (rounds), best node 0-0 passes 2/3 tests"
