"""Behavioural equivalence and speed decisions, in orps's own process: how values are
encoded and compared, which differences are named, when a speed-up counts, and how the
changed lines' coverage is found. No sandbox here (test_equivalence_project.py runs it)."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass

import pytest

from runners.speed._orps_values import NotRebuildable, decode, encode, rebuildable
from runners.speed.equivalence import (
    Report,
    changed_lines,
    compare_call,
    coverage,
    executable_lines,
    render,
    render_call,
    same_value,
)
from runners.speed.timing import analyse, original_module_path, percentile


@dataclass
class Point:
    x: int
    y: float


class Opaque:
    __slots__ = ()

    def __repr__(self):
        return "<opaque>"


BUILTINS = [
    None,
    True,
    0,
    -7,
    2**200,
    1.5,
    float("inf"),
    -0.0,
    "text",
    "",
    b"\x00\xff",
    bytearray(b"ab"),
    [1, [2, 3]],
    (1,),
    (),
    {1, 2, 3},
    frozenset({"a"}),
    {"k": [1, 2], 3: (4, 5)},
    complex(1, -2),
]


@pytest.mark.parametrize("value", BUILTINS, ids=repr)
def test_builtin_values_survive_json_both_ways(value):
    node = json.loads(json.dumps(encode(value)))  # what crosses the sandbox's pipe
    back = decode(node)
    assert type(back) is type(value) and back == value
    assert same_value(encode(value), node)


def test_nan_round_trips_and_equals_itself():
    node = json.loads(json.dumps(encode(float("nan"))))
    assert math.isnan(decode(node)) and same_value(node, encode(float("nan")))


def test_objects_are_described_never_rebuilt():
    node = encode(Point(1, 2.0))
    assert node["t"] == "obj" and node["type"].endswith("Point") and set(node["v"]) == {"x", "y"}
    with pytest.raises(NotRebuildable):
        decode(node)
    assert not rebuildable({"t": "list", "v": [1, node]})
    assert same_value(encode(Point(1, 2.0)), encode(Point(1, 2.0)))
    assert not same_value(encode(Point(1, 2.0)), encode(Point(1, 3.0)))


def test_an_object_without_attributes_compares_by_its_repr_and_is_counted():
    from runners.speed.equivalence import _Counter

    counter = _Counter()
    assert encode(Opaque())["t"] == "repr"
    assert same_value(encode(Opaque()), encode(Opaque()), counter) and counter.by_repr == 1


def test_decode_refuses_what_is_not_an_encoded_value():
    for bad in ({"t": "pickle", "v": "gASV"}, {"t": "obj", "type": "os.system", "v": {}}, 3, [1]):
        with pytest.raises(NotRebuildable):
            decode(bad)


def test_recursive_and_huge_values_do_not_break_encoding():
    loop = []
    loop.append(loop)
    assert encode(loop)["v"][0]["t"] == "repr"
    assert encode(list(range(20_000)))["cut"] is True
    assert not rebuildable(encode(list(range(20_000))))


def test_floats_compare_within_the_documented_tolerance_only():
    assert same_value(encode(0.1 + 0.2), encode(0.3))
    assert not same_value(encode(1.0), encode(1.0 + 1e-6))
    assert not same_value(encode(1), encode(1.0))  # a type change is a change of behaviour
    assert not same_value(encode(True), encode(1))


def test_order_matters_for_lists_and_dicts_not_for_sets():
    assert not same_value(encode([3, 1, 2]), encode([1, 2, 3]))
    assert not same_value(encode({"a": 1, "b": 2}), encode({"b": 2, "a": 1}))
    assert same_value(encode({3, 1, 2}), encode({1, 2, 3}))
    assert not same_value(encode(OrderedDict(a=1)), encode({"a": 1}))  # another type


def _call(args, **outcome):
    return {
        "args": [encode(a) for a in args],
        "kwargs": {},
        "after": [encode(a) for a in args],
        "kwargs_after": {},
        **outcome,
    }


def test_a_changed_return_value_is_named_with_both_answers():
    recorded = _call([[3, 1, 3, 2, 1]], returned=encode([3, 1, 2]))
    got = {"returned": encode([1, 2, 3]), "after": recorded["after"], "kwargs_after": {}}
    what, original, candidate = compare_call(recorded, got)
    assert what == "return value" and original == "returned [3, 1, 2]" and candidate == "returned [1, 2, 3]"
    assert render_call("dedupe", recorded) == "dedupe([3, 1, 3, 2, 1])"
    assert compare_call(recorded, {**got, "returned": encode([3, 1, 2])}) is None


def test_exceptions_compare_by_type_and_against_values():
    recorded = _call([[]], raised="builtins.ValueError", message="empty")
    assert (
        compare_call(recorded, {"raised": "builtins.ValueError", "message": "other words", "after": recorded["after"]})
        is None
    )
    assert compare_call(recorded, {"raised": "builtins.IndexError", "after": recorded["after"]})[0] == "exception"
    assert compare_call(recorded, {"returned": None, "after": recorded["after"]})[0] == "result"


def test_an_argument_changed_in_place_differently_is_named():
    recorded = _call([[1.0, 1.0, 2.0]], returned=encode(3))
    recorded["after"] = [encode([0.25, 0.25, 0.5])]
    got = {"returned": encode(3), "after": [encode([1.0, 1.0, 2.0])], "kwargs_after": {}}
    what, original, candidate = compare_call(recorded, got)
    assert what == "argument 1 after the call" and original == "[0.25, 0.25, 0.5]" and candidate == "[1.0, 1.0, 2.0]"


def test_a_missing_answer_is_a_difference():
    assert compare_call(_call([1], returned=encode(1)), None)[0] == "no answer"


def test_report_lines_say_what_happened():
    differs = Report(
        same=False,
        compared=1,
        difference={"call": "f(1)", "what": "return value", "original": "returned 1", "candidate": "returned 2"},
    )
    assert (
        differs.summary()
        == "behaves differently from the original on f(1): return value: original returned 1, candidate returned 2"
    )
    thin = Report(same=True, compared=3, coverage={"percent": 50, "thin": True})
    assert "50% of the changed lines (thin evidence: under 80%)" in thin.summary()
    assert Report(same=None, note="no calls").summary() == "behaviour not checked: no calls"


def test_render_keeps_long_values_short():
    assert len(render(encode(list(range(1000))))) == 200 and render(encode("a")) == "'a'"


BEFORE = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    return out\n"
AFTER = "def f(xs):\n    if len(xs) > 100:\n        return sorted(xs)\n    return list(xs)\n"


def test_changed_lines_and_the_statements_among_them():
    changed = changed_lines(BEFORE, AFTER)
    assert changed == {2, 3, 4}
    assert executable_lines(AFTER, changed) == {2, 3, 4}
    assert executable_lines('def f():\n    """doc"""\n', {2}) == set()  # a docstring is no statement to run


def test_coverage_of_the_changed_lines_calls_thin_evidence_thin():
    partial = coverage(BEFORE, AFTER, ran=[1, 2, 4])
    assert partial == {"changed_lines": 3, "covered": 2, "percent": 67, "missed": [3], "thin": True}
    assert coverage(BEFORE, AFTER, ran=[2, 3, 4])["thin"] is False
    assert coverage(BEFORE, BEFORE, ran=[]) is None


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3 and percentile([1, 2], 0.1) == pytest.approx(1.1)


def test_a_clear_speedup_is_faster_with_its_interval():
    original = [1.00, 1.02, 1.01, 1.05, 1.00, 1.03, 1.01]
    candidate = [0.50, 0.51, 0.50, 0.52, 0.50, 0.51, 0.53]
    speed = analyse(original, candidate, loops=4, calls=2)
    assert speed["faster"] and speed["speedup"] == 2.0 and speed["low"] <= 2.0 <= speed["high"] and speed["low"] > 1
    assert speed["original_per_call_s"] == pytest.approx(1.0 / 8)


def test_a_few_percent_is_under_the_threshold():
    speed = analyse([1.0, 1.01, 1.0, 1.02, 1.0], [0.96, 0.97, 0.96, 0.97, 0.96])
    assert not speed["faster"] and "under the threshold of 10%" in speed["reason"]
    assert analyse([1.0, 1.01, 1.0, 1.02, 1.0], [0.96, 0.97, 0.96, 0.97, 0.96], min_speedup=0.02)["faster"]


def test_a_gain_within_the_noise_is_not_faster():
    original = [1.2, 2.0, 2.5, 3.0, 1.3, 2.2, 2.8]  # the pairs' ratios run from 1.08 to 2.55
    candidate = [1.0, 1.0, 1.0, 1.2, 1.2, 1.0, 1.1]
    speed = analyse(original, candidate)
    assert speed["speedup"] == 1.2 and speed["low"] > 1 and speed["noise"] > 0.2
    assert not speed["faster"] and "within the noise" in speed["reason"]


def test_a_machine_slowing_both_sides_of_a_pair_is_no_noise():
    original = [1.0, 3.0, 1.5, 4.0, 2.0, 1.2, 2.5]  # the machine is busy at times ...
    candidate = [x / 2 for x in original]  # ... and the candidate beside it is slowed as much
    speed = analyse(original, candidate)
    assert speed["faster"] and speed["noise"] == 0 and speed["low"] == speed["high"] == 2.0


def test_an_interval_reaching_one_is_not_faster():
    original = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    candidate = [0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 1.2, 1.2]
    speed = analyse(original, candidate)
    assert speed["low"] < 1 and not speed["faster"] and "reaches 1x" in speed["reason"]


def test_too_few_repeats_measure_nothing():
    assert analyse([1.0], [0.5]) == {"measured": False, "faster": False, "reason": "too few timed repetitions"}


def test_the_original_is_placed_beside_the_target():
    assert original_module_path("src/pkg/core.py", "abc") == "src/pkg/_orps_original_abc.py"


def test_a_candidate_answer_cannot_start_a_line_of_its_own():
    forged = {"t": "obj", "type": "x.Y\n--- a/setup\n+++ b/setup", "v": {}}
    assert "\n" not in render(forged) and "\\n--- a/setup" in render(forged)
    recorded = _call([1], returned=encode(1))
    what, _, candidate = compare_call(recorded, {"raised": "a\nb", "message": "m\n+++", "after": recorded["after"]})
    assert "\n" not in candidate
    assert render({"t": "list", "v": 5}) == "<a malformed value>"


def test_timing_shares_arguments_only_when_the_original_changes_none():
    from runners.speed.timing import mutates

    kept = _call([[3, 1, 2]], returned=encode(3))
    assert not mutates(kept)
    assert mutates({**kept, "after": [encode([1, 2, 3])]})


# -- the engine's hook: the interleaved timing decides the answer under --goal faster ------------


class SpeedEvaluator:
    """In-process fake (trusted code only): every candidate passes; `compare_speed` answers
    from a table keyed by a word in the code."""

    def __init__(self, table: dict[str, dict]):
        from tests.fakes import FakeEvaluator

        self.inner = FakeEvaluator()
        self.table = table
        self.timed: list[str] = []

    async def evaluate(self, task, code, *, hidden=False):
        return await self.inner.evaluate(task, code, hidden=hidden)

    async def measure_runtime(self, task, code, repeats=5):
        return None

    async def compare_speed(self, task, code, min_speedup=0.10):
        self.timed.append(code)
        return next(v for k, v in self.table.items() if k in code)


def _faster_search(answer: str, table: dict[str, dict], min_speedup: float = 0.10):
    import asyncio

    from search.engine import Search
    from search.gateway import Gateway, GatewayConfig
    from search.providers.scripted import register_script
    from search.settings import SearchSettings
    from search.types import Task

    task = Task(
        id="add",
        problem="Add.",
        entry_point="add",
        kind="project",
        target="m.py::add",
        original_code="def add(a, b):\n    return a + b  # original\n",
        tests=["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
        goal="faster",
    )
    register_script("speedy-answer", lambda m, p: f"```python\n{answer}```\n")
    settings = SearchSettings(
        samples=1,
        strategy="single",
        goal="faster",
        model="scripted/speedy-answer",
        min_speedup=min_speedup,
        critic=False,
    )
    evaluator = SpeedEvaluator(table)
    return asyncio.run(Search(task, settings, Gateway(GatewayConfig()), evaluator).run()), evaluator


FAST = {
    "measured": True,
    "faster": True,
    "speedup": 3.0,
    "low": 2.5,
    "high": 3.4,
    "noise": 0.05,
    "reason": "faster beyond the threshold and the noise",
}
NOISE = {
    "measured": True,
    "faster": False,
    "speedup": 1.04,
    "low": 0.9,
    "high": 1.2,
    "noise": 0.1,
    "reason": "a gain of 4.0% is under the threshold of 10%",
}


def test_the_engine_times_the_finalist_against_the_original_and_keeps_the_verdict():
    from orps_tui.result_doc import is_improvement

    result, evaluator = _faster_search("def add(a, b):\n    return b + a  # quick\n", {"quick": FAST})
    assert evaluator.timed == ["def add(a, b):\n    return b + a  # quick"]  # not the original
    assert result.best.evaluation.speed == FAST and is_improvement(result.best, result.baseline, "faster")


def test_a_finalist_within_the_noise_is_no_improvement_whatever_its_test_runtime():
    from orps_tui.result_doc import is_improvement

    result, _ = _faster_search("def add(a, b):\n    return b + a  # same\n", {"same": NOISE})
    result.best.evaluation.runtime_s = result.baseline.evaluation.runtime_s / 2  # the tests' clock says 2x
    assert result.best.evaluation.speed == NOISE and not is_improvement(result.best, result.baseline, "faster")


def test_min_speedup_is_a_checked_setting():
    from search.settings import SearchSettings

    assert SearchSettings(min_speedup=0.1).validate() == []
    assert "min_speedup=-0.5" in SearchSettings(min_speedup=-0.5).validate()[0]
