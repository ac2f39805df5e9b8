"""`orps check`: the target's tests in the sandbox on the current code; exit 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.schema import validate
from runners.sandbox.bwrap import bwrap_works

needs_bwrap = pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"
WORDS = "src/textkit/words.py"


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLE, dest)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "no target"),
        (["--target", f"{WORDS}::slugfy"], "did you mean slugify"),
        (["--target", f"{WORDS}::_unused_pattern"], "no tests"),
        (["--target", f"{WORDS}::slugify", "-k", "nothing_matches"], "no tests matching -k"),
        ([f"{WORDS}::slugfy"], "did you mean slugify"),  # the target may come first, without --target
    ],
)
def test_bad_input_exits_2(project, capsys, argv, message):
    assert main(["check", *argv, "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_two_different_targets_are_refused(project, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", f"{WORDS}::slugify", "--target", f"{WORDS}::initials", "--project", str(project)])
    assert exited.value.code == 2 and "two targets" in capsys.readouterr().err


@pytest.mark.slow
def test_failing_and_passing_targets(project, capsys):
    before = snapshot(project)
    assert main(["check", "--target", f"{WORDS}::slugify", "--project", str(project)]) == 1
    out = capsys.readouterr().out
    assert "PASS  tests/test_words.py::test_slugify_simple" in out
    assert "FAIL  tests/test_words.py::test_slugify_punctuation" in out and "AssertionError" in out
    assert f"{WORDS}::slugify: 1/3 passed" in out
    assert main(["check", f"{WORDS}::common_words", "--json", "--project", str(project)]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate("check", doc)
    assert doc["all_passed"] and doc["passed"] == doc["total"] == 2 and doc["isolation"]
    assert all(t["selected"].startswith("calls common_words") for t in doc["tests"])  # the reasons -v prints
    assert snapshot(project) == before  # check never writes to the project


@pytest.mark.slow
def test_target_from_config(project, capsys):
    (project / "orps.toml").write_text(f"target = '{WORDS}::initials'\n")
    assert main(["check", "--project", str(project)]) == 1
    assert "NotImplementedError" in capsys.readouterr().out


@pytest.fixture
def early_workers(monkeypatch):
    """Every EarlyWorker `orps check` starts, kept to look at after the command."""
    from runners.testing import early_worker

    made: list = []

    class Recorded(early_worker.EarlyWorker):
        def __init__(self, project):
            made.append(self)
            super().__init__(project)

    monkeypatch.setattr(early_worker, "EarlyWorker", Recorded)
    return made


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
@needs_bwrap
def test_a_check_runs_in_the_worker_started_before_its_tests_were_known(project, capsys, early_workers):
    assert main(["check", "--target", f"{WORDS}::slugify", "--json", "--project", str(project)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["isolation"].endswith("+warm"), doc["isolation"]
    assert (doc["passed"], doc["total"]) == (1, 3)  # as cold (test_failing_and_passing_targets)
    [early] = early_workers
    pid = early.worker.pid if early.worker else None
    assert early.worker is not None and early.worker.pid is None  # closed by the command
    assert pid is None or _gone(pid)


@pytest.fixture
def evaluations(monkeypatch):
    """How each evaluation of the command ended: warm or cold."""
    from runners.testing.evaluator import SandboxEvaluator

    real = SandboxEvaluator.evaluate
    ran: list[str] = []

    async def evaluate(self, *args, **kwargs):
        ev = await real(self, *args, **kwargs)
        ran.append(ev.isolation.rsplit("+", 1)[1])
        return ev

    monkeypatch.setattr(SandboxEvaluator, "evaluate", evaluate)
    return ran


@pytest.mark.slow
@needs_bwrap
def test_a_worker_that_cannot_start_leaves_the_check_cold_with_the_same_verdict(project, capsys, monkeypatch):
    from runners.testing import early_worker
    from runners.testing.warm import WarmWorker

    # An interpreter that ends at once: never ready, its first run fails.
    monkeypatch.setattr(early_worker, "WarmWorker", lambda python, env, *rest: WarmWorker("/bin/false", env))
    assert main(["check", "--target", f"{WORDS}::slugify", "--json", "--project", str(project)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["isolation"].endswith("+cold"), doc["isolation"]
    assert (doc["passed"], doc["total"]) == (1, 3)


@pytest.mark.slow
@needs_bwrap
def test_a_warm_run_lost_to_a_broken_warm_path_is_run_again_cold(project, capsys, monkeypatch, evaluations):
    from runners.testing.warm import WarmUnavailable, WarmWorker

    def cannot_join(self, request, fds):
        raise WarmUnavailable("the worker cannot join a sandbox here")

    monkeypatch.setattr(WarmWorker, "start", cannot_join)  # the check's run and the first run alike
    assert main(["check", "--target", f"{WORDS}::slugify", "--json", "--project", str(project)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert evaluations == ["warm", "cold"]
    assert doc["isolation"].endswith("+cold") and (doc["passed"], doc["total"]) == (1, 3)


@pytest.mark.slow
@needs_bwrap
def test_a_warm_run_that_finished_does_not_wait_for_the_workers_first_run(project, capsys, monkeypatch, evaluations):
    from runners.sandbox import run

    asked: list = []
    real = run.warm_ready

    async def first_run(worker):
        if not isinstance(worker, run.ProbingWorker):
            asked.append(worker)
        return await real(worker)

    monkeypatch.setattr(run, "warm_ready", first_run)
    assert main(["check", "--target", f"{WORDS}::slugify", "--json", "--project", str(project)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert evaluations == ["warm"] and not asked  # `failed` with every record: the warm path worked
    assert (doc["passed"], doc["total"]) == (1, 3)
