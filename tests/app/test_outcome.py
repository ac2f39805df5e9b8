"""A search that finds nothing better than the code as it is is not `solved`: its status
is `no_improvement`, the summary says so, nothing changes and `orps solve` exits 1."""

from __future__ import annotations

import argparse
import json

import pytest

from orps_tui.commands.solve import run_headless
from orps_tui.solving import SolveRequest, prepare_job
from search.providers.scripted import register_script
from tests.tui_support import CALC, ProjectFake, make_project

SAME_MUL = "```python\ndef mul(a, b):\n    return a * b\n```"


@pytest.fixture
def project(tmp_path):
    register_script("same-mul", lambda messages, params: SAME_MUL)
    return make_project(tmp_path)


def headless(project, target: str, goal: str, *, json_out: bool):
    request = SolveRequest(
        target=target,
        settings={
            "model": "scripted/same-mul",
            "goal": goal,
            "samples": 2,
            "beam": 1,
            "rounds": 1,
            "cache": False,
            "critic": False,
        },
    )
    job = prepare_job(project, request, evaluator=ProjectFake())
    args = argparse.Namespace(quiet=True, json=json_out, patch_out=None)
    return job, run_headless(project, job, args)


def test_nothing_faster_than_passing_code_is_not_solved(project, capsys):
    # mul passes its test already; every candidate is the same code, no faster
    job, code = headless(project, "calc.py::mul", "faster", json_out=False)
    out = capsys.readouterr().out
    assert code == 1
    assert ": no improvement (" in out and "solved" not in out
    assert "no candidate is " in out and "nothing changed" in out and "no change to propose" in out
    assert job.run.meta()["result"] == "no_improvement"  # what `orps runs` lists
    assert (project / "calc.py").read_text() == CALC


def test_code_that_passes_every_test_has_nothing_to_fix_and_costs_no_call(project, capsys):
    # Tests are the only judge of a fix: nothing can beat code that passes them all.
    job, code = headless(project, "calc.py::mul", "fix", json_out=False)
    out = capsys.readouterr().out
    assert code == 1
    assert "nothing to fix: your code already passes the 1 selected test (no model call made)" in out
    assert "solved" not in out and "hint: if they miss the bug, add a test" in out
    assert job.run.meta()["result"] == "no_improvement"
    _, code = headless(project, "calc.py::mul", "fix", json_out=True)
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["status"] == "no_improvement" and doc["stop_reason"] == "passing"
    assert doc["usage"]["calls"] == 0 and doc["patch"] == ""
    assert (project / "calc.py").read_text() == CALC


def test_the_json_document_says_no_improvement(project, capsys):
    _, code = headless(project, "calc.py::mul", "faster", json_out=True)
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["status"] == "no_improvement" and doc["patch"] == ""
    from orps_tui.schema import validate

    validate("solve", doc)


def test_the_same_code_measured_faster_is_no_improvement(project, capsys, monkeypatch):
    # measuring noise: the candidate (your code, unchanged) measures faster than the original
    import tests.fakes

    times = iter([0.002] + [0.001] * 50)
    original = tests.fakes.FakeEvaluator.evaluate

    async def noisy(self, task, code, *, hidden=False):
        ev = await original(self, task, code, hidden=hidden)
        ev.runtime_s = next(times)
        return ev

    monkeypatch.setattr(tests.fakes.FakeEvaluator, "evaluate", noisy)
    job, code = headless(project, "calc.py::mul", "faster", json_out=True)
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "no_improvement" and doc["patch"] == "" and code == 1
