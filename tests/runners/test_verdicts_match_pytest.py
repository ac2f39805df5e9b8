"""orps's per-test outcomes equal plain pytest's on tests shaped like real projects' (the
decorated_project fixture: mock.patch, unittest.skipIf, skip/skipif/xfail marks,
parametrize, unittest classes, a conftest fixture named test_url, the project's own
python_files/python_classes/python_functions/testpaths), and tamper detection stays quiet."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runners.sandbox.bwrap import bwrap_works
from runners.testing.evaluator import SandboxEvaluator
from runners.testing.prepare import kept_addopts
from search.types import Task

FIXTURE = Path(__file__).parents[1] / "fixtures" / "decorated_project"
sandboxed = [pytest.mark.slow, pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")]

REFERENCE_PLUGIN = """
import json, os
OUT = {}
def pytest_runtest_logreport(report):
    xfail = hasattr(report, "wasxfail")
    if report.when == "call" or report.outcome != "passed":
        if report.skipped:
            outcome = "xfailed" if xfail else "skipped"
        elif report.failed:
            outcome = "failed" if report.when == "call" else "error"
        else:
            outcome = "passed"  # an xpass that is not strict counts as passed, as in pytest's exit code
        OUT.setdefault(report.nodeid, outcome)
def pytest_sessionfinish(session):
    with open(os.environ["REFERENCE_OUT"], "w") as f:
        json.dump(OUT, f)
"""


def plain_pytest(project: Path, tmp_path: Path) -> dict[str, str]:
    """Each test's outcome as plain pytest reports it (same interpreter, same project)."""
    (tmp_path / "refplugin.py").write_text(REFERENCE_PLUGIN)
    out = tmp_path / "reference.json"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{project / 'src'}", "REFERENCE_OUT": str(out)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "refplugin", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        timeout=120,
    )
    return json.loads(out.read_text())


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "decorated_project"
    shutil.copytree(FIXTURE, dest)
    return dest


@sandboxed[0]
@sandboxed[1]
@pytest.mark.parametrize("warm", [True, False])
async def test_every_outcome_equals_plain_pytest(project, tmp_path, warm):
    reference = plain_pytest(project, tmp_path)
    assert len(reference) == 25 and "tests/check_more.py::check_twenties" in reference  # the config was read
    assert not any("test_url" == node.rsplit("::", 1)[-1] for node in reference)  # a fixture, not a test
    source = (project / "src" / "clock" / "stamp.py").read_text()
    task = Task(
        id="ordinal",
        problem="",
        entry_point="ordinal",
        kind="project",
        target="src/clock/stamp.py::ordinal",
        project=str(project),
        tests=sorted(reference),
        original_code=source,
    )
    async with SandboxEvaluator(timeout_s=60, warm=warm) as evaluator:
        ev = await evaluator.evaluate(task, source)
    got = {t.id: t.outcome for t in ev.tests}
    assert got == reference, ev.message
    assert ev.verdict == "passed" and ev.all_passed, ev.message
    assert "tamper" not in ev.message and "suspicious" not in ev.message
    counted = [o for o in reference.values() if o not in ("skipped", "xfailed")]
    assert ev.passed == ev.total == len(counted)


@sandboxed[0]
@sandboxed[1]
async def test_a_failing_candidate_still_fails_and_skips_stay_skipped(project, tmp_path):
    reference = plain_pytest(project, tmp_path)
    source = (project / "src" / "clock" / "stamp.py").read_text()
    wrong = "def ordinal(value):\n    return f'{value}th'\n"
    task = Task(
        id="ordinal",
        problem="",
        entry_point="ordinal",
        kind="project",
        target="src/clock/stamp.py::ordinal",
        project=str(project),
        tests=sorted(reference),
        original_code=source,
    )
    async with SandboxEvaluator(timeout_s=60) as evaluator:
        ev = await evaluator.evaluate(task, wrong)
    outcomes = {t.id: t.outcome for t in ev.tests}
    assert ev.verdict == "failed" and 0 < ev.passed < ev.total
    assert outcomes["tests/test_stamp.py::test_skipped_by_mark"] == "skipped"
    assert outcomes["tests/test_stamp.py::OrdinalCase::test_skipped"] == "skipped"
    assert outcomes["tests/test_stamp.py::test_ordinal[1-1st]"] == "failed"
    assert "tamper" not in ev.message


@pytest.mark.parametrize(
    "config, text",
    [
        (
            "pytest.ini",
            "[pytest]\naddopts = -n 4 --cov=src --cov-report term -ra --strict-markers -x -p no:randomly\n"
            "  --import-mode=importlib -W error::DeprecationWarning -k slow tests\n",
        ),
        (
            "pyproject.toml",
            '[tool.pytest.ini_options]\naddopts = ["-n", "4", "--strict-markers", "-p", "no:randomly", '
            '"--import-mode=importlib", "-W", "error::DeprecationWarning", "--maxfail", "2"]\n',
        ),
        (
            "setup.cfg",
            "[tool:pytest]\naddopts = --numprocesses=auto --strict-markers -pno:randomly --import-mode=importlib "
            "-Werror::DeprecationWarning --tb=long\n",
        ),
    ],
)
def test_the_addopts_that_decide_what_tests_do_are_kept(tmp_path, config, text):
    (tmp_path / config).write_text(text)
    kept = kept_addopts(tmp_path)
    for option in ("--strict-markers", "no:randomly", "--import-mode=importlib", "error::DeprecationWarning"):
        assert option in kept
    for option in ("-n", "--cov", "-x", "-k", "--maxfail", "--numprocesses", "--tb", "tests", "-ra"):
        assert option not in kept.split() and not any(t.startswith(option + "=") for t in kept.split())


@sandboxed[0]
@sandboxed[1]
@pytest.mark.parametrize(
    "candidate, line, error",
    [
        # the function uses what breaks the module: a candidate's unused imports and globals are left out of the splice
        (
            "import numpy_not_here_at_all\n\n\ndef ordinal(value):\n    return str(numpy_not_here_at_all.int64(value))\n",
            "import numpy_not_here_at_all",
            "ModuleNotFoundError: No module named 'numpy_not_here_at_all'",
        ),
        (
            "SUFFIXES = undefined_table[1]\n\n\ndef ordinal(value):\n    return str(value) + SUFFIXES\n",
            "SUFFIXES = undefined_table[1]",
            "NameError: name 'undefined_table' is not defined",
        ),
    ],
)
async def test_a_candidate_that_breaks_its_module_is_blamed_with_its_line(project, candidate, line, error):
    from orps_tui.taskbuild import collection_errors, run_problem

    source = (project / "src" / "clock" / "stamp.py").read_text()
    task = Task(
        id="ordinal",
        problem="",
        entry_point="ordinal",
        kind="project",
        target="src/clock/stamp.py::ordinal",
        project=str(project),
        tests=["tests/test_stamp.py::test_known_bug", "tests/check_more.py"],
        original_code=source,
    )
    async with SandboxEvaluator(timeout_s=60) as evaluator:
        ev = await evaluator.evaluate(task, candidate)
    first = ev.message.splitlines()[0]
    assert first.startswith("the code under test does not import: line ") and "of src/clock/stamp.py" in first
    assert error in first and line in ev.message
    assert not collection_errors(ev.message)  # not a broken test file, for check and the TUI
    problem = run_problem(ev)  # a dependency the interpreter lacks is said as such, with the fix
    assert problem == "" or (problem.startswith(first) and "not installed in" in first)
    assert ev.verdict == "failed" and ev.passed == 0 and all(t.outcome == "error" for t in ev.tests)
