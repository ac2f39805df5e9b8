"""A run that ended before pytest wrote anything says what stopped it, when bwrap said so."""

from __future__ import annotations

from runners.sandbox.caps import SandboxResult
from runners.testing.verdict import judge

NODE = "tests/test_mod.py::test_f"
BWRAP = "bwrap: Can't create file at /tmp/run/pkg/__pycache__/mod.pyc: Value too large for defined data type\n"


def run(stderr: str) -> SandboxResult:
    return SandboxResult(returncode=1, stdout="", stderr=stderr, timed_out=False, wall_s=0.1, isolation="test")


def test_bwraps_reason_is_in_the_message_when_nothing_ran():
    ev = judge([], [], [NODE], run(BWRAP))
    assert ev.verdict == "crashed"
    assert ev.message.splitlines()[-1] == "the sandbox could not start: " + BWRAP.strip()


def test_output_after_pytest_started_is_never_taken_for_bwraps():
    # Once the plugin has written a record, the candidate's code may have run and printed.
    ev = judge([{"type": "collected", "count": 1}], [], [NODE], run(BWRAP))
    assert "the sandbox could not start" not in ev.message
