"""Honest errors on messy projects: a syntax error in the user's file, a test file
that cannot be imported, `--json` errors, each with its message and exit code and no
traceback."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize("extra", [(), ("--problem-text", "the median")])
def test_a_syntax_error_hint_says_to_fix_the_file_at_its_line_not_to_write_a_new_function(tiny, capsys, extra):
    stats = tiny / "src/tiny/stats.py"
    stats.write_text(stats.read_text().replace("return xs[len(xs) // 2]", "return xs[len(xs) // 2"))
    code, out, err = run(capsys, "check", "--project", str(tiny), "--target", TARGET, *extra)
    assert code == 2
    message, hint = err.splitlines()
    assert message.startswith("orps: src/tiny/stats.py:4: syntax error: ")
    assert hint.startswith("hint: fix the code at src/tiny/stats.py:4 and run this again")
    assert "new function" not in err
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", TARGET, "--json", *extra)
    doc = json.loads(out)
    assert code == 2 and doc["hint"].startswith("fix the code at src/tiny/stats.py:4")


def test_a_run_stopped_at_the_time_limit_says_how_to_give_slow_tests_more_time():
    from orps_tui.commands.check import report_lines
    from search.types import Evaluation, Task, TestResult

    task = Task(id="t", problem="", entry_point="median", target=TARGET)
    stopped = Evaluation(
        verdict="timeout",
        passed=1,
        total=2,
        message="the test run was stopped at the time limit (10.1 s)",
        tests=[
            TestResult(id="tests/test_stats.py::test_odd", outcome="passed"),
            TestResult(id="tests/test_stats.py::test_even", outcome="failed", message="the test did not finish"),
        ],
    )
    lines = report_lines(task, stopped)
    assert lines[-2] == "  the test run was stopped at the time limit (10.1 s)"
    assert lines[-1].startswith("  hint: if the tests are just slow, give them more time: --timeout SECONDS")
    failed = Evaluation(verdict="failed", passed=1, total=2, message="1 failed", tests=stopped.tests)
    assert not any("--timeout" in line for line in report_lines(task, failed))


def test_json_errors_are_json_on_stdout(tiny, capsys):
    code, out, err = run(capsys, "solve", "--project", str(tiny), "--target", "src/tiny/stats.py::mean", "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["exit_code"] == 2 and doc["error"].startswith("no function mean in src/tiny/stats.py")
    assert "did you mean median" in doc["error"] and err.startswith("orps: no function mean")
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", "src/tiny/stats.py", "--json")
    assert code == 2 and json.loads(out)["error"].startswith("target 'src/tiny/stats.py' must look like")


def test_collection_errors_are_read_from_the_evaluation_message():
    message = (
        "collection error in tests/test_broken.py: ModuleNotFoundError: No module named 'x'\nTraceback...\n"
        "E   ModuleNotFoundError: No module named 'x'\npytest collected 2 tests, expected 3"
    )
    assert collection_errors(message) == {"tests/test_broken.py": "ModuleNotFoundError: No module named 'x'"}
    task = Task(
        id="t",
        problem="p",
        entry_point="f",
        kind="project",
        tests=["tests/test_broken.py::test_b", "tests/test_ok.py::test_a"],
        tests_source="# tests/test_broken.py::test_b\ndef test_b(): ...\n\n# tests/test_ok.py::test_a\ndef test_a(): ...",
    )
    kept = without_broken_files(task, collection_errors(message))
    assert kept.tests == ["tests/test_ok.py::test_a"]
    assert kept.tests_source == "# tests/test_ok.py::test_a\ndef test_a(): ..."


@pytest.mark.slow
def test_a_test_file_that_cannot_be_imported_is_left_out_and_the_others_run(tiny, capsys):
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", TARGET)
    assert code == 1
    assert (
        "LEFT OUT tests/test_broken.py: cannot be imported: ModuleNotFoundError: No module named 'nonexistent_mod'"
        in out
    )
    assert "PASS  tests/test_stats.py::test_odd" in out and "FAIL  tests/test_stats.py::test_even" in out
    code, out, _ = run(capsys, "check", "--project", str(tiny), "--target", TARGET, "--json")
    doc = json.loads(out)
    assert doc["passed"] == 1 and doc["total"] == 2 and list(doc["left_out"]) == ["tests/test_broken.py"]


@pytest.mark.slow
def test_solve_refuses_when_no_selected_test_can_run(tiny, capsys):
    calls = []
    register_script(
        "robust", lambda messages, params: calls.append(1) or "```python\ndef median(xs):\n    return 0\n```"
    )
    code, out, err = run(
        capsys,
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--tests",
        "tests/test_broken.py",
        "--model",
        "scripted/robust",
        "--json",
        "--no-cache",
    )
    assert code == 2 and calls == []
    error = json.loads(out)["error"]
    assert error.startswith(
        "the selected tests cannot run: tests/test_broken.py "
        "(ModuleNotFoundError: No module named 'nonexistent_mod': not installed in "
    )
    assert not list((tiny / ".orps" / "runs").iterdir())  # no empty run left behind


@pytest.mark.slow
def test_solve_leaves_a_broken_test_file_out_and_searches_with_the_rest(tiny, capsys):
    fixed = "```python\ndef median(xs):\n    xs = sorted(xs)\n    n = len(xs)\n    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2\n```"
    register_script("robust2", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else fixed)
    code, out, err = run(
        capsys,
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--model",
        "scripted/robust2",
        "--json",
        "--no-cache",
        "--samples",
        "1",
        "--rounds",
        "1",
        "--beam",
        "1",
    )
    doc = json.loads(out)
    assert "left out (cannot be imported): tests/test_broken.py" in err
    assert (
        code == 0
        and doc["status"] == "solved"
        and doc["tests"] == ["tests/test_stats.py::test_odd", "tests/test_stats.py::test_even"]
    )
    assert list(doc["left_out"]) == ["tests/test_broken.py"]


FIXED_MEDIAN = "## Code\n```python\nimport statistics\n\ndef median(xs):\n    return statistics.median(xs)\n```"


@pytest.mark.slow
def test_a_candidate_without_annotations_or_docstring_yields_a_patch_that_touches_only_the_body(tiny, capsys):
    (tiny / "tests/test_broken.py").unlink()
    register_script(
        "body", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else FIXED_MEDIAN
    )
    code, out, _ = run(
        capsys,
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--model",
        "scripted/body",
        "--json",
        "--quiet",
        "--no-cache",
        "--samples",
        "1",
        "--rounds",
        "1",
        "--beam",
        "1",
    )
    doc = json.loads(out)
    assert code == 0 and doc["signature_change"] is None
    changed = [line for line in doc["patch"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "+import statistics",
        "+",
        "-    xs = sorted(xs)",
        "-    return xs[len(xs) // 2]",
        "+    return statistics.median(xs)",
    ]


@pytest.mark.slow
def test_a_real_interface_change_is_shown_separately(tiny, capsys):
    (tiny / "tests/test_broken.py").unlink()
    changed = FIXED_MEDIAN.replace("def median(xs):", "def median(xs, default=None):")
    register_script("iface", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else changed)
    code, out, _ = run(
        capsys,
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--model",
        "scripted/iface",
        "--headless",
        "--quiet",
        "--no-cache",
        "--samples",
        "1",
        "--rounds",
        "1",
        "--beam",
        "1",
    )
    assert code == 0
    assert (
        "the patch changes the interface: def median(xs: list[float]) -> float:  ->  def median(xs, default=None):"
    ) in out


def test_the_project_is_found_from_a_subdirectory_and_targets_are_relative_to_it(tiny, tmp_path, monkeypatch):
    from orps_tui.config import find_project_root, path_in_project, project_dir, target_in_project

    (tiny / "tests/test_broken.py").unlink()
    monkeypatch.chdir(tiny / "src")
    assert project_dir(None) == tiny.resolve() and find_project_root(tiny / "src" / "tiny") == tiny.resolve()
    assert target_in_project(tiny, "tiny/stats.py::median") == TARGET  # relative to where the user stands
    assert target_in_project(tiny, TARGET) == TARGET  # relative to the root still works
    assert target_in_project(tiny, "nope.py::f") == "nope.py::f"  # unknown: left for the usual error
    assert path_in_project(tiny, "../tests/test_stats.py") == "tests/test_stats.py"
    assert path_in_project(tiny, "../..") == "../.."  # outside the project: left as given
    git_only = tmp_path / "gitonly"
    (git_only / ".git").mkdir(parents=True)
    (git_only / "a" / "b").mkdir(parents=True)
    assert find_project_root(git_only / "a" / "b") == git_only.resolve()


@pytest.mark.slow
def test_check_and_runs_work_from_a_subdirectory(tiny, capsys, monkeypatch):
    (tiny / "tests/test_broken.py").unlink()
    monkeypatch.chdir(tiny / "src" / "tiny")
    code, out, _ = run(capsys, "check", "--target", "stats.py::median", "-v")
    assert code == 1 and "selected: calls median (tests/test_stats.py imports tiny.stats)" in out
    assert "src/tiny/stats.py::median: 1/2 passed" in out
    code, out, _ = run(
        capsys, "check", "--target", "stats.py::median", "--tests", "../../tests/test_stats.py::test_odd", "-v"
    )
    assert code == 0 and "src/tiny/stats.py::median: 1/1 passed" in out


def _solve_fixed(tiny, capsys, patch_out):
    register_script(
        "ro", lambda messages, params: "Score: 5/5" if "reviewer" in messages[0]["content"] else FIXED_MEDIAN
    )
    return run(
        capsys,
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--model",
        "scripted/ro",
        "--json",
        "--quiet",
        "--samples",
        "1",
        "--rounds",
        "1",
        "--beam",
        "1",
        "--patch-out",
        str(patch_out),
    )


@pytest.mark.slow
def test_a_checkout_where_orps_cannot_write_keeps_its_runs_in_the_user_cache(tiny, capsys, tmp_path, monkeypatch):
    import search.store as store

    (tiny / "tests/test_broken.py").unlink()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # A read-only mount refuses even root; simulate its answer where the probe asks.
    monkeypatch.setattr(store, "_writable", lambda directory: not str(directory).startswith(str(tiny)))
    code, out, _ = _solve_fixed(tiny, capsys, tmp_path / "fix.patch")
    doc = json.loads(out)
    assert code == 0 and (tmp_path / "fix.patch").read_text() == doc["patch"]
    assert doc["run_dir"].startswith(str(tmp_path / "cache" / "orps" / "projects" / "tiny-"))
    assert not (tiny / ".orps").exists()
    code, out, _ = run(capsys, "runs", "--project", str(tiny), "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)["runs"]] == [doc["run_id"]]


@pytest.mark.slow
@pytest.mark.skipif(
    hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
    reason="root writes through permission bits; the test above covers the fallback",
)
def test_a_read_only_checkout_really_works(tiny, capsys, tmp_path, monkeypatch):
    (tiny / "tests/test_broken.py").unlink()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for path in [tiny, *tiny.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        code, out, _ = _solve_fixed(tiny, capsys, tmp_path / "fix.patch")
        assert code == 0 and (tmp_path / "fix.patch").exists()
    finally:
        for path in [tiny, *tiny.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.slow
def test_an_identical_rerun_is_answered_from_the_cache(tiny, capsys):
    (tiny / "tests/test_broken.py").unlink()
    asked = []
    critic = "Correct.\nScore: 4/5"

    def respond(messages, params):
        asked.append(1)
        return critic if "reviewer" in messages[0]["content"] else FIXED_MEDIAN

    register_script("cache", respond)
    argv = [
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--model",
        "scripted/cache",
        "--json",
        "--quiet",
        "--samples",
        "2",
        "--rounds",
        "1",
        "--beam",
        "1",
        "--seed",
        "7",
    ]
    first = json.loads(run(capsys, *argv)[1])
    asked_first = len(asked)
    second = json.loads(run(capsys, *argv)[1])
    # critic prompts show measured runtime and memory, which differ between the two runs
    assert asked_first == first["usage"]["calls"] > 2 and len(asked) == asked_first
    assert second["usage"]["cached_calls"] == second["usage"]["calls"] == first["usage"]["calls"]
    assert second["patch"] == first["patch"]


def test_a_write_the_environment_refuses_is_a_clear_error_not_a_crash(monkeypatch, capsys):
    import errno

    import orps_tui.commands.runs as runs

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "proj/.orps/backups")

    monkeypatch.setattr(runs, "run_rows", refuse)
    code, out, err = run(capsys, "runs", "--json")
    assert code == 2 and err.startswith("orps: cannot write proj/.orps/backups: Read-only file system")
    assert json.loads(out)["exit_code"] == 2


@pytest.mark.slow
def test_solve_refuses_when_pytest_cannot_start_and_says_why(tiny, capsys):
    """A pytest configuration plain pytest cannot load either (here a filterwarnings entry
    naming a module that is not installed, as humanize's does with coverage) is named with
    pytest's own reason, not 'ended early (exit code 4)', and no search is run."""
    pyproject = tiny / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "filterwarnings = ['ignore::not_installed_mod.SomeWarning']\n")
    calls = []
    register_script(
        "robust", lambda messages, params: calls.append(1) or "```python\ndef median(xs):\n    return 0\n```"
    )
    code, out, err = run(
        capsys,
        "solve",
        "--project",
        str(tiny),
        "--target",
        TARGET,
        "--tests",
        "tests/test_stats.py",
        "--model",
        "scripted/robust",
        "--json",
        "--no-cache",
    )
    assert code == 2 and calls == []
    error = json.loads(out)["error"]
    assert error.startswith("the selected tests cannot run: pytest stopped before collecting any test (exit code 4)")
    assert "No module named 'not_installed_mod'" in error
