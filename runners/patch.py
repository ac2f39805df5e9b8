"""Patches: make a unified diff, and apply one to the project safely and reversibly.

Applying is the only write orps ever makes to the user's project, so it is careful:
- every hunk must match the file exactly (context included) before anything is written;
  a patch whose result is already there is refused as "already applied", one whose
  context no longer matches as "stale" — in both cases nothing is touched;
- the original of every file is copied to `.orps/backups/<id>/` first, with a manifest
  of what was written, and each file is replaced atomically (temp file + rename);
- `revert_last` puts the originals back, refusing if the files changed since.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

BACKUPS = Path(".orps") / "backups"
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(Exception):
    """The patch cannot be applied; `kind` is stale, applied or invalid. Nothing was written."""

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.kind = kind


@dataclass
class FilePatch:
    path: str
    hunks: list[tuple[int, list[str], list[str]]] = field(default_factory=list)
    """(old start line, old lines, new lines), lines without their newline."""


@dataclass
class ApplyResult:
    files: list[str]
    added: int
    removed: int
    backup: str


def make_patch(rel_path: str, original: str, new: str) -> str:
    """A unified diff that `git apply` and `patch -p1` accept."""
    diff = difflib.unified_diff(
        original.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"a/{rel_path}", tofile=f"b/{rel_path}",
    )
    out = []
    for line in diff:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def parse_patch(text: str) -> list[FilePatch]:
    files: list[FilePatch] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            target = lines[i + 1][4:].split("\t")[0].strip()
            path = target[2:] if target.startswith(("a/", "b/")) else target
            files.append(FilePatch(path))
            i += 2
            continue
        match = HUNK.match(line)
        if match and files:
            old_count = int(match.group(2) or 1)
            new_count = int(match.group(4) or 1)
            old, new = [], []
            i += 1
            while i < len(lines) and (len(old) < old_count or len(new) < new_count):
                body = lines[i]
                if body.startswith("\\"):
                    i += 1
                    continue
                tag, content = body[:1], body[1:]
                if tag in (" ", ""):
                    old.append(content)
                    new.append(content)
                elif tag == "-":
                    old.append(content)
                elif tag == "+":
                    new.append(content)
                else:
                    raise PatchError(f"malformed hunk line: {body[:60]!r}")
                i += 1
            files[-1].hunks.append((int(match.group(1)), old, new))
            continue
        i += 1
    if not files or not any(f.hunks for f in files):
        raise PatchError("this is not a unified diff (no file headers or hunks found)")
    return files


def _apply_hunks(lines: list[str], hunks, reverse: bool = False) -> list[str]:
    out = list(lines)
    offset = 0
    for start, old, new in hunks:
        if reverse:
            old, new = new, old
        at = max(0, start - 1 + offset) if old else start + offset
        if out[at:at + len(old)] != old:
            raise PatchError("the file does not match the patch's context", "stale")
        out[at:at + len(old)] = new
        offset += len(new) - len(old)
    return out


def _split(text: str) -> tuple[list[str], bool]:
    return text.splitlines(), text.endswith("\n")


def check_patch(project: Path, patch_text: str) -> dict[str, str]:
    """The new content of every file, or PatchError (kind applied/stale) without writing."""
    results = {}
    for fp in parse_patch(patch_text):
        path = Path(project) / fp.path
        if not path.is_file():
            raise PatchError(f"{fp.path} does not exist in {project}", "stale")
        lines, trailing_newline = _split(path.read_text())
        try:
            new_lines = _apply_hunks(lines, fp.hunks)
        except PatchError:
            try:
                _apply_hunks(lines, fp.hunks, reverse=True)
            except PatchError:
                raise PatchError(f"{fp.path} changed since the patch was made; nothing was applied", "stale") from None
            raise PatchError(f"the patch is already applied to {fp.path}; nothing was changed", "applied") from None
        results[fp.path] = "\n".join(new_lines) + ("\n" if trailing_newline or not lines else "")
    return results


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.orps-tmp")
    tmp.write_text(text)
    if path.exists():
        shutil.copymode(path, tmp)  # keep the executable bit and friends
    os.replace(tmp, path)


def apply_patch(project: Path, patch_text: str) -> ApplyResult:
    """Apply after checking every file; back the originals up first."""
    project = Path(project)
    new_content = check_patch(project, patch_text)
    backup = project / BACKUPS / time.strftime("%Y%m%d-%H%M%S")
    while backup.exists():
        backup = backup.with_name(backup.name + "+")
    manifest = {"files": {}, "created": time.time()}
    for rel, text in new_content.items():
        original = (project / rel).read_text()
        saved = backup / rel
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(original)
        manifest["files"][rel] = {"written": _digest(text)}
    (backup / "manifest.json").write_text(json.dumps(manifest, indent=1))
    added = removed = 0
    for rel, text in new_content.items():
        before = (project / rel).read_text().splitlines()
        for line in difflib.ndiff(before, text.splitlines()):
            added += line.startswith("+ ")
            removed += line.startswith("- ")
        _atomic_write(project / rel, text)
    return ApplyResult(sorted(new_content), added, removed, str(backup))


def revert_last(project: Path) -> ApplyResult:
    """Restore the files of the newest backup, if they still hold what orps wrote."""
    project = Path(project)
    root = project / BACKUPS
    backups = sorted((p for p in root.iterdir() if (p / "manifest.json").exists() and not p.name.endswith(".reverted")),
                     reverse=True) if root.is_dir() else []
    if not backups:
        raise PatchError("there is no applied patch to revert", "invalid")
    backup = backups[0]
    manifest = json.loads((backup / "manifest.json").read_text())
    for rel, info in manifest["files"].items():
        current = (project / rel).read_text() if (project / rel).exists() else ""
        if _digest(current) != info["written"]:
            raise PatchError(f"{rel} changed after the patch was applied; revert it by hand from {backup / rel}", "stale")
    for rel in manifest["files"]:
        _atomic_write(project / rel, (backup / rel).read_text())
    shutil.move(str(backup), str(backup.with_name(backup.name + ".reverted")))
    return ApplyResult(sorted(manifest["files"]), 0, 0, str(backup))
