"""Patches: make a unified diff, and apply one to the project safely and reversibly.

Kept whole because making, parsing, checking, applying and reverting a patch share one diff
format and one backup layout.

Applying is the only write orps ever makes to the user's project, so it is careful:
- every hunk must match the file exactly (context included, no fuzz) before anything is
  written; a hunk may have moved (lines added or removed above it) as long as its exact
  context is found, nearest first, as `git apply` does;
- a patch whose result is already there is refused as "applied", one whose context no
  longer matches as "stale"; in both cases nothing is touched;
- paths must stay inside the project (no absolute paths, no `..`, no `.git/`, no
  symlink leading out), and only existing files are modified;
- the original of every file is copied to `.orps/backups/<timestamp>/` first, with a
  manifest, and each file is replaced atomically (temp file in the same directory, then
  `os.replace`), keeping its mode and its line endings byte for byte;
- `revert` puts the originals back, refusing if the files changed since the apply.

Pure Python: no dependency on git or patch being installed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKUPS = Path(".orps") / "backups"
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
REVERTED = ".reverted"


class PatchError(Exception):
    """The patch cannot be applied (or reverted). Nothing was written.

    `kind`: "stale" (the file changed since the patch was made), "applied" (it is already
    there), or "invalid" (not a patch we can apply, nothing to revert...)."""

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.kind = kind


@dataclass
class Hunk:
    old_start: int
    old: list[str]
    new: list[str]
    old_eof_no_newline: bool = False
    new_eof_no_newline: bool = False
    added: int = 0
    removed: int = 0
    """Lines are without their "\\n" (a "\\r" of CRLF files stays part of the line)."""


@dataclass
class FilePatch:
    path: str
    hunks: list[Hunk] = field(default_factory=list)
    new_file: bool = False
    """The patch creates the file (its source side is /dev/null)."""

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)


@dataclass
class FileChange:
    path: str
    added: int
    removed: int
    offset: int = 0
    """How many lines the hunks had moved from where the patch said (0: exactly there)."""


@dataclass
class ApplyResult:
    """What an apply (or dry run, or revert) changed."""

    files: list[str]
    added: int
    removed: int
    backup: str
    """The backup directory ('' for a dry run)."""
    changes: list[FileChange] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        return "; ".join(f"{c.path}: +{c.added} -{c.removed}" for c in self.changes)


def make_patch(rel_path: str, original: str, new: str, *, new_file: bool = False) -> str:
    """A unified diff (a/ and b/ prefixes, 3 lines of context) that `git apply` and
    `patch -p1` accept, including for files without a final newline. `new_file`: the
    patch creates the file (from /dev/null)."""
    diff = difflib.unified_diff(
        original.splitlines(keepends=True) if "\r" not in original else _lines_keep(original),
        new.splitlines(keepends=True) if "\r" not in new else _lines_keep(new),
        fromfile="/dev/null" if new_file else f"a/{rel_path}",
        tofile=f"b/{rel_path}",
    )
    out = []
    for line in diff:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def _lines_keep(text: str) -> list[str]:
    """Split on "\\n" only, keeping it (str.splitlines would also split on a lone "\\r")."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    return lines + ([parts[-1]] if parts[-1] else [])


def _changed(h: Hunk) -> tuple[int, int]:
    """(removed, added) lines of a hunk, from its old and new sides."""
    matcher = difflib.SequenceMatcher(a=h.old, b=h.new, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    return len(h.old) - same, len(h.new) - same


def parse_patch(text: str) -> list[FilePatch]:
    """The files and hunks of a unified diff (ours, git's or diff -u's)."""
    files: list[FilePatch] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            source = lines[i][4:].split("\t")[0].strip()
            target = lines[i + 1][4:].split("\t")[0].strip()
            if target == "/dev/null":
                raise PatchError("the patch deletes a file; orps only changes or creates files")
            files.append(
                FilePatch(target[2:] if target.startswith(("a/", "b/")) else target, new_file=source == "/dev/null")
            )
            i += 2
            continue
        match = HUNK.match(line)
        if match and files:
            old_count = int(match.group(2) if match.group(2) is not None else 1)
            new_count = int(match.group(4) if match.group(4) is not None else 1)
            hunk = Hunk(int(match.group(1)), [], [])
            i += 1
            last_tag = ""
            while i < len(lines) and (
                len(hunk.old) < old_count or len(hunk.new) < new_count or lines[i].startswith("\\")
            ):
                body = lines[i]
                tag, content = body[:1], body[1:]
                if tag == "\\":  # "\ No newline at end of file" after the line it is about
                    hunk.old_eof_no_newline |= last_tag in (" ", "-")
                    hunk.new_eof_no_newline |= last_tag in (" ", "+")
                elif tag in (" ", ""):  # some tools strip the space of empty context lines
                    hunk.old.append(content)
                    hunk.new.append(content)
                elif tag == "-":
                    hunk.old.append(content)
                    hunk.removed += 1
                elif tag == "+":
                    hunk.new.append(content)
                    hunk.added += 1
                else:
                    raise PatchError(f"malformed hunk line {i + 1}: {body[:60]!r}")
                last_tag = tag or " "
                i += 1
            if len(hunk.old) != old_count or len(hunk.new) != new_count:
                raise PatchError(f"truncated hunk at line {i}: expected {old_count} old and {new_count} new lines")
            files[-1].hunks.append(hunk)
            continue
        i += 1
    if not files or not any(f.hunks for f in files):
        raise PatchError("this is not a unified diff (no file headers or hunks found)")
    return files


def _find_at(lines: list[str], old: list[str], expected: int) -> int | None:
    """Where `old` occurs exactly, nearest to `expected` first; None when nowhere."""
    if not old:
        return min(max(expected, 0), len(lines))
    limit = len(lines) - len(old)
    for distance in range(0, max(expected, limit - expected) + 1):
        for at in (expected - distance, expected + distance):
            if 0 <= at <= limit and lines[at : at + len(old)] == old:
                return at
    return None


def _apply_hunks(lines: list[str], hunks: list[Hunk], reverse: bool = False) -> tuple[list[str], int]:
    """The new lines and the largest offset used; PatchError("stale") when a hunk does not fit."""
    out = list(lines)
    shift = moved = 0
    for h in hunks:
        old, new = (h.new, h.old) if reverse else (h.old, h.new)
        # A hunk with no old lines inserts after line old_start; otherwise it starts there.
        expected = (h.old_start - 1 if old else h.old_start) + shift
        at = _find_at(out, old, expected)
        if at is None:
            raise PatchError("the file does not match the patch's context", "stale")
        moved = max(moved, abs(at - expected))
        out[at : at + len(old)] = new
        shift += len(new) - len(old) + (at - expected)
    return out, moved


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PatchError(f"{path.name} is not UTF-8 text; orps does not patch it") from None


def _safe_path(project: Path, rel: str) -> Path:
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts or (parts and parts[0] in (".git", ".orps")):
        raise PatchError(f"refusing to touch {rel!r}: patches may only change files inside the project")
    path = project / rel
    try:
        path.resolve().relative_to(project.resolve())
    except ValueError:
        raise PatchError(f"refusing to touch {rel!r}: it leads outside the project") from None
    return path


def _crlf_hunks(text: str, fp: FilePatch) -> FilePatch:
    """A patch read in text mode lost the "\\r" of a CRLF file's lines: give it back."""
    if "\r\n" not in text or text.count("\r\n") != text.count("\n"):
        return fp
    if any(line.endswith("\r") for h in fp.hunks for line in h.old + h.new):
        return fp
    hunks = [
        Hunk(
            h.old_start,
            [x + "\r" for x in h.old],
            [x + "\r" for x in h.new],
            h.old_eof_no_newline,
            h.new_eof_no_newline,
            h.added,
            h.removed,
        )
        for h in fp.hunks
    ]
    return FilePatch(fp.path, hunks)


def _new_text(text: str, fp: FilePatch) -> tuple[str, int]:
    fp = _crlf_hunks(text, fp)
    lines = text.split("\n")
    had_newline = lines[-1] == ""
    if had_newline:
        lines.pop()
    new_lines, moved = _apply_hunks(lines, fp.hunks)
    ends = [h for h in fp.hunks if h.new_eof_no_newline or h.old_eof_no_newline]
    newline = had_newline
    if ends:
        newline = not ends[-1].new_eof_no_newline
    if not new_lines:
        return "", moved
    return "\n".join(new_lines) + ("\n" if newline else ""), moved


def check_patch(project: Path, patch_text: str) -> dict[str, str]:
    """The new content of every file, or PatchError (applied/stale/invalid) without writing."""
    return {path: text for path, (text, _) in _check(Path(project), parse_patch(patch_text)).items()}


def _check(project: Path, patches: list[FilePatch]) -> dict[str, tuple[str, FileChange]]:
    results: dict[str, tuple[str, FileChange]] = {}
    for fp in patches:
        path = _safe_path(project, fp.path)
        if fp.new_file:
            new_text, _ = _new_text("", fp)
            if path.exists():
                if path.is_file() and _read(path) == new_text:
                    raise PatchError(f"the patch is already applied ({fp.path} exists); nothing was changed", "applied")
                raise PatchError(
                    f"{fp.path} already exists, and the patch would create it; nothing was applied", "stale"
                )
            results[fp.path] = (new_text, FileChange(fp.path, fp.added, fp.removed, 0))
            continue
        if not path.is_file():
            raise PatchError(f"{fp.path} does not exist in {project}; nothing was applied", "stale")
        text = _read(path)
        try:
            new_text, moved = _new_text(text, fp)
        except PatchError:
            try:
                lines = text.split("\n")
                _apply_hunks(lines[:-1] if lines[-1] == "" else lines, fp.hunks, reverse=True)
            except PatchError:
                raise PatchError(
                    f"{fp.path} changed since the patch was made (its lines no longer match); nothing was applied",
                    "stale",
                ) from None
            raise PatchError(f"the patch is already applied to {fp.path}; nothing was changed", "applied") from None
        results[fp.path] = (new_text, FileChange(fp.path, fp.added, fp.removed, moved))
    return results


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    """Write beside the file, keep its mode, then rename over it: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".orps-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)  # keep the executable bit and friends
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_backup_dir(root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup, n = root / stamp, 1
    while backup.exists() or backup.with_name(backup.name + REVERTED).exists():
        n += 1
        backup = root / f"{stamp}-{n}"
    return backup


def apply_patch(
    project: Path, patch_text: str, *, backup_dir: Path | None = None, dry_run: bool = False
) -> ApplyResult:
    """Check every file, back the originals up, then write each file atomically.

    `backup_dir` is where backups live (default `<project>/.orps/backups`); this apply's
    originals go in a new `<timestamp>/` directory under it, reported as `backup`.
    `dry_run` checks and reports without writing anything."""
    project = Path(project)
    checked = _check(project, parse_patch(patch_text))
    changes = [change for _, change in checked.values()]
    result = ApplyResult(
        sorted(checked), sum(c.added for c in changes), sum(c.removed for c in changes), "", changes, dry_run
    )
    if dry_run:
        return result
    backup = _new_backup_dir(Path(backup_dir) if backup_dir else project / BACKUPS)
    backup.mkdir(parents=True)
    if backup_dir is None:  # like the run store: .orps/ is local state, git should not see it
        ignore = project / ".orps" / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# orps runs, caches and backups: local state, not source\n*\n")
    manifest: dict[str, Any] = {"project": str(project.resolve()), "created": time.time(), "files": {}}
    for rel, (text, _) in checked.items():
        if not (project / rel).exists():  # a new file: undo removes it
            manifest["files"][rel] = {"original": None, "written": _digest(text)}
            continue
        original = (project / rel).read_bytes()
        saved = backup / rel
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_bytes(original)
        manifest["files"][rel] = {"original": hashlib.sha256(original).hexdigest(), "written": _digest(text)}
    (backup / "manifest.json").write_text(json.dumps(manifest, indent=1))
    written = []
    try:
        for rel, (text, _) in checked.items():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(project / rel, text)
            written.append(rel)
    except OSError as err:  # put back what was already written, so the project is never half-patched
        for rel in written:
            if manifest["files"][rel]["original"] is None:
                (project / rel).unlink(missing_ok=True)
            else:
                _atomic_write(project / rel, (backup / rel).read_bytes().decode("utf-8"))
        raise PatchError(f"could not write {project / rel}: {err}; nothing was changed") from None
    result.backup = str(backup)
    return result


def backups(project: Path, *, backup_dir: Path | None = None) -> list[Path]:
    """Backups that can still be reverted, newest first."""
    root = Path(backup_dir) if backup_dir else Path(project) / BACKUPS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / "manifest.json").is_file() and not p.name.endswith(REVERTED)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def revert(project: Path, backup: Path | None = None, *, backup_dir: Path | None = None) -> ApplyResult:
    """Restore the originals saved by an apply (the newest when `backup` is None), if the
    files still hold what that apply wrote. The backup is then renamed `*.reverted`."""
    project = Path(project)
    if backup is None:
        found = backups(project, backup_dir=backup_dir)
        if not found:
            raise PatchError("there is no applied patch to revert")
        backup = found[0]
    backup = Path(backup)
    try:
        manifest = json.loads((backup / "manifest.json").read_text())
    except (OSError, ValueError):
        raise PatchError(f"{backup} is not an orps backup") from None
    changes = []
    for rel, info in manifest["files"].items():
        path = _safe_path(project, rel)
        current = _read(path) if path.exists() else ""
        if _digest(current) != info["written"]:
            raise PatchError(
                f"{rel} changed after the patch was applied; nothing was reverted (the original is in {backup / rel})",
                "stale",
            )
        created = info["original"] is None  # the apply created it: undo removes it
        original = "" if created else (backup / rel).read_bytes().decode("utf-8")
        if created:
            removed, added = len(current.splitlines()), 0
        else:
            removed, added = _changed(Hunk(1, current.split("\n"), original.split("\n")))
        changes.append(FileChange(rel, added, removed))
    for rel, info in manifest["files"].items():
        if info["original"] is None:
            (project / rel).unlink()
        else:
            _atomic_write(project / rel, (backup / rel).read_bytes().decode("utf-8"))
    done = backup.with_name(backup.name + REVERTED)
    shutil.move(str(backup), str(done))
    return ApplyResult(
        sorted(manifest["files"]), sum(c.added for c in changes), sum(c.removed for c in changes), str(done), changes
    )


def revert_last(project: Path, *, backup_dir: Path | None = None) -> ApplyResult:
    """Undo the newest apply (see `revert`)."""
    return revert(project, backup_dir=backup_dir)
