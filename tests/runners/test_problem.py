"""The problem statement: docstring by default, user text appended or replacing it."""

from types import SimpleNamespace

import pytest

from runners.code.problem import build_problem

LOCATED = SimpleNamespace(docstring="Double x.", signature="def f(x):", qualname="f")


def test_modes():
    assert build_problem(LOCATED) == "Double x."
    assert build_problem(LOCATED, "  Also negative numbers.\n") == "Double x.\n\nAlso negative numbers."
    assert build_problem(LOCATED, "Triple x.", mode="replace") == "Triple x."
    assert build_problem(LOCATED, "", mode="replace") == "Double x."
    assert build_problem(SimpleNamespace(docstring="")) == ""
    with pytest.raises(ValueError, match="append or replace"):
        build_problem(LOCATED, "x", mode="merge")
