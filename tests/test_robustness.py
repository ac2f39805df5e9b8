"""Honest errors on messy projects (#22): a syntax error in the user's file, a test file
that cannot be imported, `--json` errors, each with its message and exit code and no
traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.taskbuild import collection_errors, without_broken_files
from search.providers.scripted import register_script
from search.types import Task

TINY = {
    "pyproject.toml": "[project]\nname = 'tiny'\nversion = '0'\n\n[tool.pytest.ini_options]\npythonpath = ['src']\n"
                      "testpaths = ['tests']\n",
    "src/tiny/__init__.py": "",
    "src/tiny/stats.py": 'def median(xs: list[float]) -> float:\n    """Median of xs."""\n    xs = sorted(xs)\n'
                         "    return xs[len(xs) // 2]\n",
    "tests/test_stats.py": "from tiny.stats import median\n\n\ndef test_odd():\n    assert median([3, 1, 2]) == 2\n\n\n"
                           "def test_even():\n    assert median([1, 2, 3, 4]) == 2.5\n",
    "tests/test_broken.py": "import nonexistent_mod\nfrom tiny.stats import median\n\n\ndef test_b():\n"
                            "    assert median([1]) == 1\n",
}
TARGET = "src/tiny/stats.py::median"


@pytest.fixture
def tiny(tmp_path):
    root = tmp_path / "tiny"
    for rel, text in TINY.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_a_syntax_error_in_the_target_file_is_named_with_file_line_and_message(tiny, capsys):
    stats = tiny / "src/tiny/stats.py"
    stats.write_text(stats.read_text().replace("-> float:", "-> float"))
    code, out, err = run(capsys, "check", "--project", str(tiny), "--target", TARGET)
    assert code == 2
    assert err.startswith("orps: src/tiny/stats.py:1: syntax error: expected ':'")
    assert "no function" not in err


def test_json_errors_are_json_on_stdout(tiny, capsys):
    code, out, err = run(capsys, "solve", "--project", str(tiny), "--target", "src/tiny/stats.py::mean", "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["exit_code"] == 2 and doc["error"].startswith("no function mean in src/tiny/stats.py")
    assert "did you mean median" in doc["error"] and err.startswith("orps: no function mean")
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", "nope.py::f", "--json")
    assert code == 2 and json.loads(out)["error"].startswith("no file nope.py")


def test_collection_errors_are_read_from_the_evaluation_message():
    message = ("collection error in tests/test_broken.py: ModuleNotFoundError: No module named 'x'\nTraceback...\n"
               "E   ModuleNotFoundError: No module named 'x'\npytest collected 2 tests, expected 3")
    assert collection_errors(message) == {"tests/test_broken.py": "ModuleNotFoundError: No module named 'x'"}
    task = Task(id="t", problem="p", entry_point="f", kind="project",
                tests=["tests/test_broken.py::test_b", "tests/test_ok.py::test_a"],
                tests_source="# tests/test_broken.py::test_b\ndef test_b(): ...\n\n# tests/test_ok.py::test_a\ndef test_a(): ...")
    kept = without_broken_files(task, collection_errors(message))
    assert kept.tests == ["tests/test_ok.py::test_a"]
    assert kept.tests_source == "# tests/test_ok.py::test_a\ndef test_a(): ..."


@pytest.mark.slow
def test_a_test_file_that_cannot_be_imported_is_left_out_and_the_others_run(tiny, capsys):
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", TARGET)
    assert code == 1
    assert "LEFT OUT tests/test_broken.py: cannot be imported: ModuleNotFoundError: No module named 'nonexistent_mod'" in out
    assert "PASS  tests/test_stats.py::test_odd" in out and "FAIL  tests/test_stats.py::test_even" in out
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", TARGET, "--json")
    doc = json.loads(out)
    assert doc["passed"] == 1 and doc["total"] == 2 and list(doc["left_out"]) == ["tests/test_broken.py"]


@pytest.mark.slow
def test_solve_refuses_when_no_selected_test_can_run(tiny, capsys):
    calls = []
    register_script("robust", lambda messages, params: calls.append(1) or "```python\ndef median(xs):\n    return 0\n```")
    code, out, err = run(capsys, "solve", "--project", str(tiny), "--target", TARGET, "--tests", "tests/test_broken.py",
                         "--model", "scripted/robust", "--json", "--no-cache")
    assert code == 2 and calls == []
    assert json.loads(out)["error"] == ("the selected tests cannot run: tests/test_broken.py "
                                        "(ModuleNotFoundError: No module named 'nonexistent_mod')")
    assert not list((tiny / ".orps" / "runs").iterdir())  # no empty run left behind


@pytest.mark.slow
def test_solve_leaves_a_broken_test_file_out_and_searches_with_the_rest(tiny, capsys):
    fixed = "```python\ndef median(xs):\n    xs = sorted(xs)\n    n = len(xs)\n    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2\n```"
    register_script("robust2", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else fixed)
    code, out, err = run(capsys, "solve", "--project", str(tiny), "--target", TARGET, "--model", "scripted/robust2",
                         "--json", "--no-cache", "--samples", "1", "--rounds", "1", "--beam", "1")
    doc = json.loads(out)
    assert "left out (cannot be imported): tests/test_broken.py" in err
    assert code == 0 and doc["status"] == "solved" and doc["tests"] == ["tests/test_stats.py::test_odd",
                                                                        "tests/test_stats.py::test_even"]


FIXED_MEDIAN = ("## Code\n```python\nimport statistics\n\ndef median(xs):\n    return statistics.median(xs)\n```")


@pytest.mark.slow
def test_a_candidate_without_annotations_or_docstring_yields_a_patch_that_touches_only_the_body(tiny, capsys):
    (tiny / "tests/test_broken.py").unlink()
    register_script("body", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else FIXED_MEDIAN)
    code, out, _ = run(capsys, "solve", "--project", str(tiny), "--target", TARGET, "--model", "scripted/body",
                       "--json", "--quiet", "--no-cache", "--samples", "1", "--rounds", "1", "--beam", "1")
    doc = json.loads(out)
    assert code == 0 and doc["signature_change"] is None
    changed = [line for line in doc["patch"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["+import statistics", "+", "-    xs = sorted(xs)", "-    return xs[len(xs) // 2]",
                       "+    return statistics.median(xs)"]


@pytest.mark.slow
def test_a_real_interface_change_is_shown_separately(tiny, capsys):
    (tiny / "tests/test_broken.py").unlink()
    changed = FIXED_MEDIAN.replace("def median(xs):", "def median(xs, default=None):")
    register_script("iface", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else changed)
    code, out, _ = run(capsys, "solve", "--project", str(tiny), "--target", TARGET, "--model", "scripted/iface",
                       "--headless", "--quiet", "--no-cache", "--samples", "1", "--rounds", "1", "--beam", "1")
    assert code == 0
    assert ("the patch changes the interface: def median(xs: list[float]) -> float:  ->  "
            "def median(xs, default=None):") in out
