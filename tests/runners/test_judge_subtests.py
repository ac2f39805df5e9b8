"""A test that reports its call phase several times (subtests) is judged as pytest counts it."""

from __future__ import annotations

from runners.sandbox.caps import SandboxResult
from runners.testing.verdict import judge

NODE = "tests/test_unit.py::T::test_double"
RUN = SandboxResult(returncode=1, stdout="", stderr="", timed_out=False, wall_s=1.0, isolation="test")


def records(*outcomes: str) -> list[dict]:
    reports = [
        {
            "type": "report",
            "nodeid": NODE,
            "when": when,
            "outcome": outcome,
            "duration": 0.001,
            "message": "AssertionError: 7 != 6" if outcome == "failed" else "",
            "xfail": False,
        }
        for when, outcome in [("setup", "passed"), *(("call", o) for o in outcomes), ("teardown", "passed")]
    ]
    return [{"type": "collected", "count": 1}, *reports, {"type": "finish", "exitstatus": 1, "tampered": []}]


def test_a_failed_subtest_fails_the_test_that_pytest_then_reports_passed():
    # pytest 9 with unittest's subTest: SUBFAILED(x=3), then the test's own "passed"
    ev = judge(records("passed", "failed", "passed"), [], [NODE], RUN)
    assert ev.verdict == "failed" and ev.passed == 0
    assert ev.tests[0].outcome == "failed" and "7 != 6" in ev.tests[0].message


def test_subtests_that_all_pass_pass():
    ev = judge(records("passed", "passed", "passed"), [], [NODE], RUN)
    assert ev.verdict == "passed" and ev.passed == ev.total == 1
