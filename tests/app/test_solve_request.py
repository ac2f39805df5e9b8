"""`SolveRequest`: the flags of `orps solve` and `orps demo` become one typed request."""

from __future__ import annotations

from orps_tui.cli import build_parser
from orps_tui.commands.demo import TARGET
from orps_tui.commands.options import request_from_args
from orps_tui.solving import SolveRequest
from orps_tui.taskbuild import watched_files
from search.types import Task


def test_solve_flags_become_the_request():
    args = build_parser().parse_args(
        [
            "solve",
            "--target",
            "src/m.py::f",
            "--tests",
            "tests/test_m.py",
            "-k",
            "fast",
            "--problem-text",
            "be quick",
            "--problem-mode",
            "replace",
            "--new",
            "--sandbox-read",
            "/data",
            "--budget-calls",
            "3",
            "--goal",
            "faster",
        ]
    )
    request = request_from_args(args)
    assert request == SolveRequest(
        target="src/m.py::f",
        tests=["tests/test_m.py"],
        k="fast",
        problem_text="be quick",
        problem_mode="replace",
        new=True,
        sandbox_read=["/data"],
        settings={"budget_calls": 3, "goal": "faster"},
    )


def test_resume_request_keeps_only_what_was_given():
    request = request_from_args(build_parser().parse_args(["solve", "--resume", "latest", "--budget-calls", "9"]))
    assert request == SolveRequest(resume="latest", settings={"budget_calls": 9})


def test_demo_request_has_the_example_target_and_the_search_flags():
    request = request_from_args(build_parser().parse_args(["demo", "--samples", "2"]), target=TARGET)
    assert request == SolveRequest(target=TARGET, settings={"samples": 2})


def test_watched_files_are_the_target_file_and_the_test_files_that_exist(tmp_path):
    (tmp_path / "m.py").write_text("def f(): pass\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text("")
    task = Task(
        id="m",
        problem="",
        entry_point="f",
        kind="project",
        target="m.py::f",
        tests=["tests/test_m.py::test_a", "tests/test_m.py::test_b", "tests", "tests/test_gone.py::t"],
    )
    assert watched_files(tmp_path, task) == [tmp_path / "m.py", tmp_path / "tests" / "test_m.py"]
