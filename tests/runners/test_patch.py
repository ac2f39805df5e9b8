"""Patches: standard tools accept ours; applying is checked, atomic, backed up and reversible."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runners.code.patch import (
    PatchError,
    apply_patch,
    backups,
    check_patch,
    make_patch,
    parse_patch,
    revert,
    revert_last,
)
from runners.code.splice import splice_candidate

SOURCE = '''"""Module doc."""
import os

LIMIT = 3  # a comment that must survive


def target(x: int) -> int:
    """Double x."""
    return x + x  # old


def other():
    return os.sep
'''
NEW = splice_candidate(SOURCE, "target", "def target(x):\n    return 2 * x\n")
REL = "pkg/mod.py"


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / REL).write_text(SOURCE)
    return tmp_path


def patch_text() -> str:
    return make_patch(REL, SOURCE, NEW)


def tool(*argv, cwd):
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)


@pytest.mark.skipif(not shutil.which("git"), reason="git not installed")
@pytest.mark.parametrize(
    "original, new",
    [
        (SOURCE, NEW),
        ("def f():\n    return 1", "def f():\n    return 2"),  # no final newline
        ("a = 1\n", "a = 1"),  # final newline removed
        (SOURCE.replace("\n", "\r\n"), NEW.replace("\n", "\r\n")),  # CRLF file
    ],
)
def test_git_apply_and_patch_accept_our_diffs(tmp_path, original, new):
    (tmp_path / "m.py").write_bytes(original.encode())
    patch = tmp_path / "p.diff"
    patch.write_bytes(make_patch("m.py", original, new).encode())
    tool("git", "init", "-q", cwd=tmp_path)
    checked = tool("git", "apply", "--check", "-v", str(patch), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    if shutil.which("patch"):
        dry = tool("patch", "-p1", "--dry-run", "-s", "-i", str(patch), cwd=tmp_path)
        assert dry.returncode == 0, dry.stdout + dry.stderr
    # and our own apply gives exactly what git would
    apply_patch(tmp_path, patch.read_text())
    assert (tmp_path / "m.py").read_bytes() == new.encode()


def test_apply_reports_what_changed_and_keeps_a_backup(repo):
    result = apply_patch(repo, patch_text())
    assert (repo / REL).read_text() == NEW
    assert result.files == [REL] and (result.added, result.removed) == (1, 1)  # the body (the user's def line stays)
    assert result.changes[0].path == REL and result.summary() == f"{REL}: +1 -1"
    backup = Path(result.backup)
    assert backup.parent == repo / ".orps" / "backups" and (backup / REL).read_text() == SOURCE
    assert not list((repo / "pkg").glob("*.orps-tmp"))  # no temp file left beside it
    assert (repo / ".orps" / ".gitignore").read_text().endswith("*\n")  # git does not see the backups


def test_double_apply_is_refused_and_file_intact(repo):
    apply_patch(repo, patch_text())
    with pytest.raises(PatchError) as info:
        apply_patch(repo, patch_text())
    assert info.value.kind == "applied" and "already applied" in str(info.value)
    assert (repo / REL).read_text() == NEW and len(backups(repo)) == 1


def test_stale_apply_is_refused_and_file_intact(repo):
    edited = SOURCE.replace("return x + x  # old", "return x + x  # my edit")
    (repo / REL).write_text(edited)
    with pytest.raises(PatchError) as info:
        apply_patch(repo, patch_text())
    assert info.value.kind == "stale" and "changed since" in str(info.value)
    assert (repo / REL).read_text() == edited and not (repo / ".orps").exists()


def test_missing_file_is_stale(tmp_path):
    with pytest.raises(PatchError) as info:
        apply_patch(tmp_path, patch_text())
    assert info.value.kind == "stale"


def test_moved_hunk_still_applies_on_exact_context(repo):
    moved = "# a header line the user added\n" * 5 + SOURCE
    (repo / REL).write_text(moved)
    result = apply_patch(repo, patch_text())
    assert (repo / REL).read_text() == "# a header line the user added\n" * 5 + NEW
    assert result.changes[0].offset == 5


def test_revert_restores_and_cannot_run_twice(repo):
    result = apply_patch(repo, patch_text())
    reverted = revert_last(repo)
    assert (repo / REL).read_text() == SOURCE
    assert reverted.files == [REL] and (reverted.added, reverted.removed) == (1, 1)
    assert reverted.backup.endswith(".reverted") and not Path(result.backup).exists()
    with pytest.raises(PatchError, match="no applied patch to revert"):
        revert_last(repo)


def test_revert_refuses_when_the_file_changed_after_apply(repo):
    apply_patch(repo, patch_text())
    (repo / REL).write_text(NEW + "\n# my own change\n")
    with pytest.raises(PatchError, match="changed after the patch was applied") as info:
        revert_last(repo)
    assert info.value.kind == "stale" and (repo / REL).read_text().endswith("# my own change\n")


def test_dry_run_and_custom_backup_dir(repo, tmp_path_factory):
    dry = apply_patch(repo, patch_text(), dry_run=True)
    assert dry.dry_run and dry.backup == "" and (repo / REL).read_text() == SOURCE
    elsewhere = tmp_path_factory.mktemp("backups")
    result = apply_patch(repo, patch_text(), backup_dir=elsewhere)
    assert Path(result.backup).parent == elsewhere and not (repo / ".orps").exists()
    revert(repo, Path(result.backup))
    assert (repo / REL).read_text() == SOURCE


def test_crlf_file_keeps_its_line_endings(repo):
    crlf = SOURCE.replace("\n", "\r\n")
    (repo / REL).write_bytes(crlf.encode())
    apply_patch(repo, make_patch(REL, crlf, NEW.replace("\n", "\r\n")))
    assert (repo / REL).read_bytes() == NEW.replace("\n", "\r\n").encode()
    revert_last(repo)
    assert (repo / REL).read_bytes() == crlf.encode()


def test_mode_is_kept(repo):
    os.chmod(repo / REL, 0o755)
    apply_patch(repo, patch_text())
    assert os.stat(repo / REL).st_mode & 0o777 == 0o755


@pytest.mark.parametrize("path", ["../outside.py", "/etc/passwd", ".git/config"])
def test_paths_outside_the_project_are_refused(repo, path):
    patch = make_patch(REL, SOURCE, NEW).replace(f"a/{REL}", f"a/{path}").replace(f"b/{REL}", f"b/{path}")
    with pytest.raises(PatchError, match="refusing to touch"):
        apply_patch(repo, patch)


def test_symlink_out_of_the_project_is_refused(repo, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "mod.py"
    outside.write_text(SOURCE)
    (repo / "link.py").symlink_to(outside)
    with pytest.raises(PatchError, match="outside the project"):
        apply_patch(repo, make_patch("link.py", SOURCE, NEW))
    assert outside.read_text() == SOURCE


@pytest.mark.parametrize(
    "text, message",
    [
        ("hello\n", "not a unified diff"),
        ("--- a/new.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x = 1\n", "deletes a file"),  # creating one is fine
        (f"--- a/{REL}\n+++ b/{REL}\n@@ -1,3 +1,3 @@\n x\n", "truncated hunk"),
    ],
)
def test_invalid_patches(repo, text, message):
    with pytest.raises(PatchError, match=message) as info:
        check_patch(repo, text)
    assert info.value.kind == "invalid"


@pytest.mark.skipif(not shutil.which("git"), reason="git not installed")
def test_git_diff_output_applies(repo):
    tool("git", "init", "-q", cwd=repo)
    tool("git", "add", ".", cwd=repo)
    (repo / REL).write_text(NEW)
    diff = tool("git", "diff", "--no-color", cwd=repo).stdout
    (repo / REL).write_text(SOURCE)
    assert parse_patch(diff)[0].path == REL
    apply_patch(repo, diff)
    assert (repo / REL).read_text() == NEW


def test_two_files_are_checked_before_either_is_written(repo):
    (repo / "pkg" / "b.py").write_text("b = 1\n")
    both = patch_text() + make_patch("pkg/b.py", "b = 2\n", "b = 3\n")  # second one is stale
    with pytest.raises(PatchError):
        apply_patch(repo, both)
    assert (repo / REL).read_text() == SOURCE
