"""`orps check`: the target's tests in the sandbox on the current code; exit 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.schema import validate

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
