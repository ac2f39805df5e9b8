"""New functions and new files: `orps solve --target new_module.py::func` when the module or
the function does not exist yet; the patch creates or extends the file; `orps apply` writes it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orps_tui.cli import main
from runners.code.locate import LocateError, new_target
from runners.code.patch import PatchError, apply_patch, check_patch, make_patch, revert_last
from runners.code.splice import splice_or_add
from search.providers.scripted import register_script

WORD_COUNT = "```python\ndef word_count(text: str) -> int:\n    return len(text.split())\n```"
TESTS = (
    'from pkg.textstats import word_count\n\n\ndef test_counts():\n    assert word_count("a b  c") == 3\n\n\n'
    'def test_empty():\n    assert word_count("") == 0\n'
)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / "src" / "pkg" / "words.py").write_text(
        'def word_counts(text):\n    """Count each word."""\n    return {}\n'
    )
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    (root / "tests" / "test_textstats.py").write_text(TESTS)
    register_script(
        "newfile",
        lambda messages, params: "Correct.\nScore: 5/5" if "reviewer" in messages[0]["content"] else WORD_COUNT,
    )
    return root


def solve(project, target, *extra, capsys):
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            target,
            "--problem-text",
            "Count the words of text (split on whitespace).",
            "--tests",
            "tests/test_textstats.py",
            "--model",
            "scripted/newfile",
            "--samples",
            "2",
            "--beam",
            "1",
            "--rounds",
            "1",
            "--json",
            "--quiet",
            "--no-cache",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def run_tests(project):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_solve_a_function_in_a_file_that_does_not_exist_then_apply(project, capsys):
    assert run_tests(project).returncode != 0  # ImportError: the module is not there yet
    code, doc, err = solve(project, "src/pkg/textstats.py::word_count", capsys=capsys)
    assert code == 0 and doc["status"] == "solved", err
    header, diff = doc["patch"].split("\n", 1)  # the confirmation the proposal got, then the diff
    assert header.startswith("# orps confirmation: confirmed")
    assert diff.startswith("--- /dev/null\n+++ b/src/pkg/textstats.py\n")
    assert not (project / "src" / "pkg" / "textstats.py").exists()  # solve never writes the project
    assert main(["apply", "--run", doc["run_id"], "--project", str(project)]) == 0
    assert (
        project / "src" / "pkg" / "textstats.py"
    ).read_text() == "def word_count(text: str) -> int:\n    return len(text.split())\n"
    assert run_tests(project).returncode == 0
    git = subprocess.run(
        ["git", "apply", "--check", "-"], input=doc["patch"], text=True, cwd=project, capture_output=True
    )
    assert "already exists" in git.stderr  # git agrees it is a file-creating patch


@pytest.mark.slow
def test_a_missing_function_is_appended_to_its_module(project, capsys):
    (project / "tests" / "test_textstats.py").write_text(TESTS.replace("pkg.textstats", "pkg.words"))
    code, doc, err = solve(project, "src/pkg/words.py::word_count", "--new", capsys=capsys)
    assert code == 0, err
    apply_patch(project, doc["patch"])
    text = (project / "src" / "pkg" / "words.py").read_text()
    assert text.startswith("def word_counts(text):") and text.endswith("    return len(text.split())\n")
    assert run_tests(project).returncode == 0


def test_a_close_name_still_gets_did_you_mean_unless_new(project):
    with pytest.raises(LocateError, match="did you mean word_counts.*--new"):
        new_target(project, "src/pkg/words.py::word_count")
    assert new_target(project, "src/pkg/words.py::word_count", new=True).source == ""
    with pytest.raises(LocateError, match="did you mean src/pkg/words.py"):
        new_target(project, "src/pkg/word.py::f")
    assert new_target(project, "src/pkg/textstats.py::f").path == "src/pkg/textstats.py"
    with pytest.raises(LocateError, match="top-level function"):
        new_target(project, "src/pkg/new.py::Klass.method")


def test_solve_says_a_new_target_needs_a_problem(project, capsys):
    target = ["--project", str(project), "--target", "src/pkg/textstats.py::word_count"]
    assert main(["solve", *target, "--model", "scripted/newfile", "--json", "--new"]) == 2
    assert "does not exist yet and no problem was given" in capsys.readouterr().err
    # Without --new or a problem, a missing target is most likely a typo: say what is there.
    assert main(["solve", *target, "--model", "scripted/newfile", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orps: no file src/pkg/textstats.py") and "--problem-text" in err


def test_new_file_patch_applies_reverts_and_refuses_to_overwrite(tmp_path):
    new_text = splice_or_add("", "f", "import os\n\ndef f():\n    return os.sep\n")
    assert new_text.startswith("import os\n") and "def f():\n    return os.sep\n" in new_text
    patch = make_patch("sub/mod.py", "", new_text, new_file=True)
    assert check_patch(tmp_path, patch) == {"sub/mod.py": new_text}
    result = apply_patch(tmp_path, patch)
    assert (tmp_path / "sub" / "mod.py").read_text() == new_text and result.files == ["sub/mod.py"]
    with pytest.raises(PatchError) as err:
        apply_patch(tmp_path, patch)
    assert err.value.kind == "applied"
    revert_last(tmp_path)
    assert not (tmp_path / "sub" / "mod.py").exists()
    (tmp_path / "sub" / "mod.py").write_text("x = 1\n")
    with pytest.raises(PatchError, match="already exists"):
        apply_patch(tmp_path, patch)
    assert (tmp_path / "sub" / "mod.py").read_text() == "x = 1\n"
