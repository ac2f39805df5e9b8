"""Text from candidates and test runs reaches the terminal without escape sequences: a
candidate cannot forge PASS lines, clear the screen or set the title through orps's output."""

from __future__ import annotations

import pytest

from orps_tui.commands.check import report_lines
from orps_tui.commands.solve import print_summary
from search.terminal_text import printable
from search.types import Evaluation, Task, TestResult

FORGED = "boom\x1b[1A\x1b[2K  PASS  tests/test_x.py::test_b\r  PASS"


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("ok \x1b[1A\x1b[2K  PASS", "ok   PASS"),  # cursor up, erase line
        ("a\x1b]0;owned\x07b", "ab"),  # window title
        ("a\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # hyperlink
        ("x\rPASS", "xPASS"),  # carriage return overwriting the line
        ("\x9b2Jz", "z"),  # 8-bit CSI: clear screen
        ("e\x1bcz", "ez"),  # full reset
        ("bell\x07\x00", "bell"),
        ("tab\tnew\nline caf\u00e9 \u2713", "tab\tnew\nline caf\u00e9 \u2713"),  # text stays text
    ],
)
def test_printable_removes_every_escape_and_control(raw, shown):
    assert printable(raw) == shown


def test_check_output_never_carries_escapes_from_the_run():
    ev = Evaluation(
        verdict="failed",
        passed=0,
        total=1,
        message=FORGED,
        tests=[TestResult(id="tests/test_x.py::test_\x1b[32ma", outcome="failed", message=FORGED)],
    )
    task = Task(id="t", problem="", entry_point="f", target="x.py::f")
    text = "\n".join(report_lines(task, ev))
    assert "\x1b" not in text and "\r" not in text
    assert "FAIL  tests/test_x.py::test_a" in text


def test_a_proposed_patch_is_printed_without_escapes(capsys):
    doc = {
        "run_id": "r",
        "status": "solved",
        "stop_reason": "satisfied",
        "best": {"id": "0-0", "passed": 1, "total": 1},
        "usage": {"calls": 1, "cached_calls": 0, "tokens": 1, "cost_usd": 0.0},
        "patch": "+    return 1  # \x1b]0;owned\x07\x1b[2J\n",
        "suspicious": [],
    }
    print_summary(doc)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "+    return 1  # " in out
