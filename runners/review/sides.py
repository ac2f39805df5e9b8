"""The two sides of a change to review, each a directory of its own.

A change is named the way git users name one:
- `FILE.diff` (any unified diff): the base is the project as it is on disk; the changed side
  is a copy of it (the files that count, `runners.project.files`) with the diff applied by
  `runners.code.patch.check_patch`, which refuses a diff that does not apply exactly;
- `A..B`: the base is commit A, the changed side commit B (what `git diff A B` shows);
- `A...B`: the base is where B forked from A (`git merge-base A B`), as a pull request shows;
- `BRANCH`: the same as `HEAD...BRANCH` (what the branch adds to the current one);
- `COMMIT` (`HEAD~1`, a hash): what that commit changed, against its first parent.

Commits are exported with `git archive` into temporary directories: the user's work tree,
index, refs and worktree list are never written (every git command here only reads, with
GIT_OPTIONAL_LOCKS=0 so that not even the index's stat cache is refreshed). A project that is
a sub-directory of its repository is reviewed as that sub-directory.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from runners.code.patch import PatchError, check_patch, make_patch


class ChangeError(Exception):
    """The change cannot be read (unknown revision, not a repository, a diff that does not apply)."""


@dataclass
class Side:
    label: str
    """How the report names this side: a revision (`main`, `3f2a1b0`) or `working tree`."""
    root: Path
    """The directory holding this side's files (the project itself for a diff's base)."""


@dataclass
class Change:
    name: str
    """As the user named it: `main..feature`, `a.diff`."""
    base: Side
    changed: Side
    files: list[str]
    """Files the change adds, modifies or deletes, relative to the project."""
    diff: str
    """The unified diff from base to changed (relative to the project)."""
    deleted: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Lines added plus lines removed: the size the ranking of several changes uses."""
        return sum(1 for line in self.diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++ ", "--- ")))


class Sides:
    """Makes the sides of changes, and removes the temporary directories it made (`close`)."""

    def __init__(self, project: Path):
        self.project = Path(project).resolve()
        self._dirs: list[str] = []
        self._exported: dict[str, Side] = {}
        # Also at exit (the CLI's exit runs the atexit handlers) and when forgotten: a side is
        # a whole copy of the project.
        weakref.finalize(self, _remove_all, self._dirs)

    def __enter__(self) -> Sides:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        _remove_all(self._dirs)

    def _tempdir(self, what: str) -> Path:
        d = tempfile.mkdtemp(prefix=f"orps-review-{what}-")
        self._dirs.append(d)
        return Path(d)

    # ------------------------------------------------------------------ changes

    def change(self, spec: str) -> Change:
        """The change `spec` names (see the module docstring); ChangeError when it cannot be read."""
        path = Path(spec)
        if path.is_file():
            return self.diff_file(path, spec)
        if "..." in spec:
            a, _, b = spec.partition("...")
            a, b = a or "HEAD", b or "HEAD"
            fork = self.merge_base(a, b)
            return self.between(fork, b, spec, base_label=f"{a}...{b} (merge base {fork[:10]})")
        if ".." in spec:
            a, _, b = spec.partition("..")
            return self.between(a or "HEAD", b or "HEAD", spec)
        commit = self.commit(spec)  # ChangeError (not a file, not a revision) names both readings
        if self._is_branch(spec):
            fork = self.merge_base("HEAD", spec)
            return self.between(fork, spec, spec, base_label=f"HEAD...{spec} (merge base {fork[:10]})")
        parents = self._git("rev-list", "--parents", "-n", "1", commit).split()
        if len(parents) < 2:
            raise ChangeError(f"{spec} is the first commit: there is no base to compare it with")
        return self.between(parents[1], spec, spec, base_label=f"{spec}^")

    def diff_file(self, path: Path, name: str) -> Change:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ChangeError(f"{name} is not UTF-8 text") from None
        try:
            new_files = check_patch(self.project, text)
        except PatchError as err:
            raise ChangeError(f"{name} does not apply to {self.project}: {err}") from None
        root = self._tempdir("patched")
        from runners.project.files import ProjectFiles

        for rel in ProjectFiles(self.project).walk().files:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = self.project / rel
            if src.is_symlink():
                continue  # a link may lead outside the project; the evaluator's own copy handles links
            shutil.copy2(src, dest)
        for rel, new in new_files.items():
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.unlink(missing_ok=True)  # a fresh file, never a write through a hard link
            dest.write_text(new)
        # The diff as orps prints diffs (one format in every report, whatever tool made the file).
        ours = "".join(
            make_patch(
                rel,
                (self.project / rel).read_text() if (self.project / rel).is_file() else "",
                new_files[rel],
                new_file=not (self.project / rel).exists(),
            )
            for rel in sorted(new_files)
        )
        return Change(name, Side("working tree", self.project), Side(name, root), sorted(new_files), ours)

    def between(self, a: str, b: str, name: str, base_label: str | None = None) -> Change:
        base, changed = self.export(a, base_label or a), self.export(b, b)
        diff = self._git(
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--relative",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            self.commit(a),
            self.commit(b),
            "--",
            ".",
        )
        status = self._git(
            "diff", "--no-renames", "--relative", "--name-status", self.commit(a), self.commit(b), "--", "."
        )
        if not status.strip():
            raise ChangeError(f"{name} changes nothing in {self.project} (base {base.label}, changed {changed.label})")
        files, deleted = [], []
        for line in status.splitlines():
            kind, _, rel = line.partition("\t")
            files.append(rel)
            if kind.startswith("D"):
                deleted.append(rel)
        return Change(name, base, changed, sorted(files), diff, sorted(deleted))

    # ------------------------------------------------------------------ git, read only

    def _git(self, *args: str) -> str:
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = subprocess.run(["git", "-C", str(self.project), *args], capture_output=True, env=env, timeout=120)
        except FileNotFoundError:
            raise ChangeError("git is not installed; a diff file works without it") from None
        if done.returncode != 0:
            err = [line.strip() for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
            fatal = next((line for line in err if line.startswith(("fatal:", "error:"))), err[-1] if err else "failed")
            advice = [line for line in err if line.startswith("git ") and line != fatal]  # git's suggested fix
            raise ChangeError(f"git {args[0]}: {fatal}" + (f" ({advice[0]})" if advice else ""))
        return done.stdout.decode("utf-8", errors="replace")

    def _repo_prefix(self) -> str:
        """The project's path inside its repository ('' at the top)."""
        try:
            return self._git("rev-parse", "--show-prefix").strip()
        except ChangeError as err:
            if "not a git repository" not in str(err):  # git's own reason (a repository it refuses to read...)
                raise
            raise ChangeError(
                f"{self.project} is not in a git repository: give a diff file "
                "(git diff > change.diff) or run orps review inside the repository"
            ) from None

    def commit(self, rev: str) -> str:
        self._repo_prefix()
        try:
            return self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
        except ChangeError:
            raise ChangeError(f"{rev!r} is neither a file nor a revision of the repository at {self.project}") from None

    def merge_base(self, a: str, b: str) -> str:
        try:
            return self._git("merge-base", self.commit(a), self.commit(b)).strip()
        except ChangeError:
            raise ChangeError(f"{a} and {b} have no common ancestor") from None

    def _is_branch(self, rev: str) -> bool:
        for ref in (f"refs/heads/{rev}", f"refs/remotes/{rev}"):
            try:
                self._git("show-ref", "--verify", "--quiet", ref)
                return True
            except ChangeError:
                pass
        return False

    def export(self, rev: str, label: str) -> Side:
        """The project's files at `rev` in a temporary directory (`git archive`, read only)."""
        commit = self.commit(rev)
        if commit in self._exported:
            return Side(label, self._exported[commit].root)
        self._repo_prefix()  # a clear error outside a repository
        root = self._tempdir("rev")
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
        # Run from the project's directory, git archive holds that directory only, its paths
        # relative to it: a project inside a larger repository is exported as itself.
        args = ["git", "-C", str(self.project), "archive", "--format=tar", commit]
        done = subprocess.run(args, capture_output=True, env=env, timeout=300)
        if done.returncode != 0:
            raise ChangeError(f"git archive {rev}: {done.stderr.decode(errors='replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
            members = [m for m in tar.getmembers() if _inside(m.name) and not m.issym() and not m.islnk()]
            try:
                tar.extractall(root, members=members, filter="data")
            except TypeError:  # Python < 3.12 without the extraction filter (members are checked above)
                tar.extractall(root, members=members)
        side = Side(label, root)
        self._exported[commit] = side
        return side


def _remove_all(dirs: list[str]) -> None:
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    dirs.clear()


def _inside(name: str) -> bool:
    parts = Path(name).parts
    return not Path(name).is_absolute() and ".." not in parts
