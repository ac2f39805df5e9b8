"""Locating and splicing targets, patches that standard tools accept, safe apply and revert."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runners.locate import LocateError, SpliceError, list_functions, locate, splice_candidate
from runners.patch import PatchError, apply_patch, check_patch, make_patch, revert_last

SOURCE = '''"""Module doc."""
from __future__ import annotations

import os

LIMIT = 3  # a comment that must survive


@decorator(1)
def target(x: int) -> int:
    """Double x."""
    return x + x  # old


class Box:
    """A box."""

    @staticmethod
    def make(n):
        return [n]

    async def fetch(self):
        return 1


def other():
    return os.sep
'''


def test_locate_function_method_and_async(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(SOURCE)
    found = locate(tmp_path, "pkg/mod.py::target")
    assert found.signature == "def target(x: int) -> int:" and found.docstring == "Double x."
    assert found.source.startswith("@decorator(1)\ndef target") and found.start_line == 9
    method = locate(tmp_path, "pkg/mod.py::Box.make")
    assert method.indent == "    " and method.source.startswith("@staticmethod")
    assert locate(tmp_path, "pkg/mod.py::Box.fetch").is_async
    names = [n for n, _, _ in list_functions(tmp_path / "pkg" / "mod.py")]
    assert names == ["target", "Box.make", "Box.fetch", "other"]


def test_locate_errors_name_close_matches(tmp_path):
    (tmp_path / "mod.py").write_text(SOURCE)
    with pytest.raises(LocateError, match="did you mean target"):
        locate(tmp_path, "mod.py::targe")
    with pytest.raises(LocateError, match="no file nope.py"):
        locate(tmp_path, "nope.py::target")


def test_splice_keeps_the_rest_byte_for_byte():
    candidate = "import math\nHELP = 2\n\ndef helper(v):\n    return v * HELP\n\ndef target(x):\n    return helper(x)\n\nprint(target(3))\n"
    out = splice_candidate(SOURCE, "target", candidate)
    assert "@decorator(1)\ndef target(x):\n    \"\"\"Double x.\"\"\"\n    return helper(x)" in out  # decorator and docstring kept
    assert "import math" in out.split("LIMIT")[0]  # imports go to the top
    assert out.index("def helper") < out.index("def target")
    assert "print(target(3))" not in out  # example calls would run at import time
    tail_before = SOURCE[SOURCE.index("class Box"):]
    assert out.endswith(tail_before)
    assert "LIMIT = 3  # a comment that must survive" in out


def test_splice_method_written_without_class_or_with_it():
    out = splice_candidate(SOURCE, "Box.make", "def make(n):\n    return [n, n]\n")
    assert "    @staticmethod\n    def make(n):\n        return [n, n]" in out
    out = splice_candidate(SOURCE, "Box.fetch", "class Box:\n    async def fetch(self):\n        return 2\n")
    assert "    async def fetch(self):\n        return 2" in out and out.count("class Box") == 1


@pytest.mark.parametrize("candidate, message", [
    ("def target(:\n", "syntax error at line 1"),
    ("def something_else():\n    pass\n", "does not define target"),
])
def test_splice_rejects_bad_candidates(candidate, message):
    with pytest.raises(SpliceError, match=message):
        splice_candidate(SOURCE, "target", candidate)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(SOURCE)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def good_patch() -> str:
    new = splice_candidate(SOURCE, "target", "def target(x):\n    return 2 * x\n")
    return make_patch("pkg/mod.py", SOURCE, new)


def test_patch_is_accepted_by_git_and_patch(repo):
    patch_file = repo / "p.diff"
    patch_file.write_text(good_patch())
    subprocess.run(["git", "apply", "--check", str(patch_file)], cwd=repo, check=True)
    subprocess.run(["patch", "-p1", "--dry-run", "-s", "-i", str(patch_file)], cwd=repo, check=True)


def test_apply_then_refuse_twice_then_revert(repo):
    path = repo / "pkg" / "mod.py"
    result = apply_patch(repo, good_patch())
    assert result.files == ["pkg/mod.py"] and result.added == 2 and result.removed == 2  # def line and body
    applied = path.read_text()
    assert "return 2 * x" in applied
    with pytest.raises(PatchError) as info:
        apply_patch(repo, good_patch())
    assert info.value.kind == "applied" and path.read_text() == applied
    revert_last(repo)
    assert path.read_text() == SOURCE


def test_stale_patch_is_refused_and_nothing_changes(repo):
    path = repo / "pkg" / "mod.py"
    edited = SOURCE.replace('"""Double x."""', '"""Double x, please."""')
    path.write_text(edited)
    with pytest.raises(PatchError) as info:
        apply_patch(repo, good_patch())
    assert info.value.kind == "stale" and path.read_text() == edited
    assert not (repo / ".orps" / "backups").exists()


def test_revert_refuses_when_the_file_changed_after_apply(repo):
    path = repo / "pkg" / "mod.py"
    apply_patch(repo, good_patch())
    path.write_text(path.read_text() + "\n# my own change\n")
    with pytest.raises(PatchError, match="changed after the patch was applied"):
        revert_last(repo)
    assert path.read_text().endswith("# my own change\n")


def test_not_a_patch_is_invalid(repo):
    with pytest.raises(PatchError, match="not a unified diff"):
        check_patch(repo, "hello\n")


def test_file_without_trailing_newline_round_trips(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    return 1")
    patch = make_patch("m.py", "def f():\n    return 1", "def f():\n    return 2")
    assert "No newline at end of file" in patch
    apply_patch(tmp_path, patch)
    assert (tmp_path / "m.py").read_text() == "def f():\n    return 2"


def test_sample_project_layout_is_found():
    sample = Path(__file__).parent / "fixtures" / "sample_project"
    assert locate(sample, "src/textkit/words.py::Counter.add").qualname == "Counter.add"
