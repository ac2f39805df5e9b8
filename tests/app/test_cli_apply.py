"""`orps apply` through the CLI: exit codes 0 applied, 1 refused, 2 bad input; output says what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orps_tui.cli import main
from runners.code.patch import make_patch
from runners.code.splice import splice_candidate

REL = "src/pkg/mod.py"
SOURCE = 'def double(x):\n    """Double x."""\n    return x + 1\n\n\ndef other():\n    return 0\n'
FIXED = splice_candidate(SOURCE, "double", "def double(x):\n    return 2 * x\n")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / REL).write_text(SOURCE)
    return tmp_path


@pytest.fixture
def patch_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("patches") / "fix.diff"
    path.write_text(make_patch(REL, SOURCE, FIXED))
    return path


def apply(project, *argv):
    return main(["apply", *argv, "--project", str(project)])


def test_apply_then_refuse_then_revert(project, patch_file, capsys):
    assert apply(project, str(patch_file)) == 0
    out = capsys.readouterr().out
    assert "+    return 2 * x" in out and f"{REL}: +1 -1 lines" in out and "orps apply --revert" in out
    assert (project / REL).read_text() == FIXED
    assert apply(project, str(patch_file)) == 1
    assert "already applied" in capsys.readouterr().out and (project / REL).read_text() == FIXED
    assert apply(project, "--revert") == 0
    assert f"{REL}: +1 -1 lines" in capsys.readouterr().out and (project / REL).read_text() == SOURCE
    assert apply(project, "--revert") == 1
    assert "no applied patch to revert" in capsys.readouterr().out


def test_stale_is_refused_and_dry_run_writes_nothing(project, patch_file, capsys):
    assert apply(project, str(patch_file), "--dry-run", "-q") == 0
    out = capsys.readouterr().out
    assert "dry run: nothing written" in out and "+    return" not in out
    assert (project / REL).read_text() == SOURCE and not (project / ".orps").exists()
    edited = SOURCE.replace("x + 1", "x + 2")
    (project / REL).write_text(edited)
    assert apply(project, str(patch_file)) == 1
    assert "changed since" in capsys.readouterr().out and (project / REL).read_text() == edited


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give a patch file or --run"),
        (["missing.diff"], "patch file missing.diff does not exist"),
        (["--run", "nope"], "no run 'nope'"),
        (["--node", "n1"], "--node needs --run"),
    ],
)
def test_bad_input_exits_2_with_one_line(project, capsys, argv, message):
    assert apply(project, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_not_a_patch_exits_2(project, tmp_path, capsys):
    (tmp_path / "junk.diff").write_text("hello\n")
    assert apply(project, str(tmp_path / "junk.diff")) == 2
    assert "not a unified diff" in capsys.readouterr().err


def make_run(project: Path, run_id="20250101-000000-abcd") -> Path:
    run = project / ".orps" / "runs" / run_id
    run.mkdir(parents=True)
    (run / "task.json").write_text(json.dumps({"target": f"{REL}::double", "original_code": "..."}))
    (run / "original_file.txt").write_text(SOURCE)
    (run / "result.json").write_text(json.dumps({"patch": make_patch(REL, SOURCE, FIXED)}))
    nodes = [
        {"id": "n1", "code": "def double(x):\n    return x * 2\n"},
        {"id": "n2", "code": "def nothing():\n  pass\n"},
    ]
    (run / "tree.json").write_text(json.dumps({"nodes": nodes}))
    (run / "meta.json").write_text(json.dumps({"id": run_id}))
    return run


def test_apply_a_runs_best_patch(project, capsys):
    make_run(project)
    assert apply(project, "--run", "latest") == 0
    assert (project / REL).read_text() == FIXED


def test_apply_a_runs_node(project, capsys):
    make_run(project)
    assert apply(project, "--run", "2025", "--node", "n1") == 0
    assert "return x * 2" in (project / REL).read_text()
    assert '"""Double x."""' in (project / REL).read_text()  # the docstring the node dropped is kept


def test_a_node_whose_base_changed_is_refused(project, capsys):
    make_run(project)
    (project / REL).write_text(SOURCE.replace("x + 1", "x - 1"))
    assert apply(project, "--run", "latest", "--node", "n1") == 1
    assert "changed since" in capsys.readouterr().out


@pytest.mark.parametrize("node, message", [("n9", "has no node 'n9'"), ("n2", "cannot be put in place")])
def test_bad_nodes_exit_2(project, capsys, node, message):
    make_run(project)
    assert apply(project, "--run", "latest", "--node", node) == 2
    assert message in capsys.readouterr().err
