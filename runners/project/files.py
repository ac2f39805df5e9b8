"""Which of a project's files matter: the one ignore list every part of orps uses.

Never walked, fingerprinted or copied: version control, virtual environments, caches,
`node_modules`, build outputs, our own `.orps/`, everything `.gitignore` ignores (asked of
git itself when the project is a repository) and the project's own
`[tool.orps] exclude = ["glob", ...]` (matched against the path relative to the project
and against the bare name). Secret-looking files (`.env`, `*.pem`, `id_*`, `.netrc`,
`credentials*`, ...) are left out of anything candidates see unless
`[tool.orps] allow_secrets = ["glob", ...]` names them. `[tool.orps] sandbox_read = [...]`
lists paths outside the project that its tests read (mounted read-only in the sandbox). Special files (FIFOs, sockets,
devices) and unreadable files are skipped with a note instead of crashing a copy.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        ".tox",
        ".nox",
        "node_modules",
        ".orps",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
        "dist",
        ".eggs",
        "site-packages",
        ".idea",
        ".vscode",
    }
)
SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".so.tmp")
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".pgpass",
    "credentials*",
    ".pypirc",
    ".npmrc",
    "secrets.*",
)
"""Names of files that typically hold keys or passwords (matched case-insensitively)."""


def _globs(patterns) -> re.Pattern | None:
    """One compiled regex for a list of globs (fnmatch per name per pattern is slow at 100k files)."""
    patterns = list(patterns)
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)) if patterns else None


_SECRET_RE = _globs(SECRET_PATTERNS)


def skip_name(name: str) -> bool:
    """A directory or file name that is never part of the project (the fixed list)."""
    return name in SKIP_DIRS or name.endswith(SKIP_SUFFIXES)


def is_secret_name(name: str) -> bool:
    return _SECRET_RE is not None and _SECRET_RE.match(name.lower()) is not None  # (SECRET_PATTERNS is not empty)


def pyproject_tool(project: Path, *keys: str) -> dict:
    """The table `[tool.<keys>]` of the project's pyproject.toml (`"orps"`, or `"pytest",
    "ini_options"`); {} when there is no such file or table, or the file does not parse."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        section = tomllib.loads(pyproject.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return {}
    for key in ("tool", *keys):
        section = section.get(key, {}) if isinstance(section, dict) else {}
    return section if isinstance(section, dict) else {}


def _string_list(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _git_ignored(project: Path) -> set[str]:
    """Paths (relative, directories with a trailing '/') that git ignores; empty outside git."""
    if not (project / ".git").exists():
        return set()
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(project),
                "ls-files",
                "-z",
                "--others",
                "--ignored",
                "--exclude-standard",
                "--directory",
                "--no-empty-directory",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if out.returncode != 0:
        return set()
    return {p for p in out.stdout.decode(errors="replace").split("\0") if p}


@dataclass
class Listing:
    """One walk of a project: what candidates may see, and what was left out and why."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Relative path -> (size, mtime_ns) of every regular file (and symlink) that counts."""
    dirs: list[str] = field(default_factory=list)
    """Relative directories walked (the root is '')."""
    hidden_dirs: list[str] = field(default_factory=list)
    """Directories left out (fixed list, .gitignore, exclude), each not descended into."""
    secrets: list[str] = field(default_factory=list)
    """Secret-looking files left out."""
    skipped: list[str] = field(default_factory=list)
    """Notes on special or unreadable files left out."""


class ProjectFiles:
    """The ignore rules of one project (read once), and walks under them."""

    def __init__(self, project: Path):
        self.project = Path(project).resolve()
        settings = pyproject_tool(self.project, "orps")
        self.exclude = _string_list(settings.get("exclude"))
        self.allow_secrets = _string_list(settings.get("allow_secrets"))
        self.sandbox_read = [(self.project / p).resolve() for p in _string_list(settings.get("sandbox_read"))]
        """Extra read-only paths the project's tests need (relative to the project or absolute)."""
        self._exclude_re = _globs(self.exclude)
        self._allow_re = _globs(self.allow_secrets)
        self.git_ignored = _git_ignored(self.project)

    def ignored(self, rel: str, is_dir: bool, name: str | None = None) -> bool:
        name = name or rel.rsplit("/", 1)[-1]
        if skip_name(name):
            return True
        if (rel + "/" if is_dir else rel) in self.git_ignored:
            return True
        return self._exclude_re is not None and bool(self._exclude_re.match(rel) or self._exclude_re.match(name))

    def secret(self, rel: str, name: str | None = None) -> bool:
        name = name or rel.rsplit("/", 1)[-1]
        if not is_secret_name(name):
            return False
        return self._allow_re is None or not (self._allow_re.match(rel) or self._allow_re.match(name))

    def walk(self, start: str = "") -> Listing:
        """Every file that counts under `start` (relative), never following a directory link
        and never entering an ignored directory."""
        listing = Listing()
        stack = [start.strip("/")]
        while stack:
            rel_dir = stack.pop()
            listing.dirs.append(rel_dir)
            try:
                entries = list(os.scandir(self.project / rel_dir if rel_dir else self.project))
            except OSError as err:
                listing.skipped.append(f"{rel_dir or '.'}/: cannot be read ({err.strerror})")
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    listing.skipped.append(f"{rel}: cannot be read")
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if self.ignored(rel, True, entry.name):
                        listing.hidden_dirs.append(rel)
                    else:
                        stack.append(rel)
                    continue
                if self.ignored(rel, False, entry.name):
                    continue
                if stat.S_ISLNK(st.st_mode):
                    listing.files[rel] = (st.st_size, st.st_mtime_ns)
                elif not stat.S_ISREG(st.st_mode):
                    listing.skipped.append(f"{rel}: a {_kind(st.st_mode)}, left out")
                elif self.secret(rel, entry.name):
                    listing.secrets.append(rel)
                elif not _readable(st):
                    listing.skipped.append(f"{rel}: not readable, left out")
                else:
                    listing.files[rel] = (st.st_size, st.st_mtime_ns)
        listing.dirs.sort()
        listing.hidden_dirs.sort()
        listing.secrets.sort()
        return listing


def _readable(st: os.stat_result) -> bool:
    """From the mode bits we already have (os.access would cost a syscall per file)."""
    uid = os.geteuid()
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IRUSR)
    if st.st_gid in _groups():
        return bool(st.st_mode & stat.S_IRGRP)
    return bool(st.st_mode & stat.S_IROTH)


def _groups() -> set[int]:
    return {os.getegid(), *os.getgroups()}


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
