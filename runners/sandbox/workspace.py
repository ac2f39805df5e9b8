"""Throwaway workspaces: where a candidate runs, never the user's project.

Kept whole because `Snapshot`, `_Snapshots` and `Workspaces` are one lifecycle (snapshot,
prepare, reuse, clean up) under one lock.

Dataset tasks get a fresh directory with `solution.py`, a generated test file and an
empty `pytest.ini` (so the rootdir is there, whatever lies above).

Project tasks cost O(files under test), not O(project). A `Snapshot` of the project is
made once per project per process (shared by every evaluator, so one per search and per
app): one walk under the project's ignore rules (`runners.project.files`) to fingerprint
its files, and private copies of the *files under test* (the target file, every test
directory named by the tests, conftests, pytest's config files). Each evaluation then
mounts, inside its sandbox, the project itself as the read-only lower layer of a
copy-on-write overlay, the frozen copies bound read-only over their originals, the
candidate's module bound over the target file, and empty stand-ins over ignored
directories and secret-looking files. So:
- nothing a candidate writes reaches the project (writes land in a throwaway upper layer);
- tests, their data and conftests are read-only and cannot change under a search;
- a user's edit during a search is detected and reported in the next evaluation's message,
  and the snapshot is remade: the files under test are re-checked before every run, the
  whole project in a background thread at most every two seconds (or twenty times the walk's
  cost, for huge projects);
  superseded snapshots are removed in the background once no run uses them.
Where overlays are unavailable (no bwrap, old bwrap, no overlayfs) each evaluation gets
a real copy of the same view instead (O(project), the fallback).
"""

from __future__ import annotations

import ast
import atexit
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runners.project.files import ProjectFiles
from runners.sandbox.cleanup import remove_tree
from runners.target import Target, TargetError
from search.types import Task

ASSERTS_TEST_FILE = "test_solution.py"
PLUGIN_MODULE = "_orps_pytest_plugin"
PROTECTED = (ASSERTS_TEST_FILE, "pytest.ini", "conftest.py")
"""Files of an asserts workspace that stay read-only while the rest is writable."""
HARNESS_DIR = Path(__file__).parent.parent / "testing"
"""Where the files that start and record the tests inside the sandbox live (`runners.testing`)."""
PLUGIN_SOURCE = HARNESS_DIR / "pytest_plugin.py"
BOOT_MODULE = "_orps_boot"
BOOT_SOURCE = HARNESS_DIR / "_test_boot.py"
COMPAT_SOURCE = HARNESS_DIR / "_pytest_compat.py"
"""The private pytest names the two above use (`runners.testing._pytest_compat`): copied beside them."""
"""What starts pytest in the sandbox (`runners.testing._test_boot`): copied beside the plugin."""
CONFIG_FILES = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", "conftest.py")
"""Files at the project root that decide how pytest collects: frozen with the tests."""
RECHECK_MIN_S = 2.0


class WorkspaceError(ValueError):
    """The project cannot be put in place (a user error, not the candidate's)."""


def check_candidate(code: str, entry_point: str) -> None:
    """Raise ValueError (the `error` verdict: nothing runs) for code that cannot work."""
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise ValueError(f"the candidate has a syntax error at line {err.lineno}: {err.msg}") from None
    name = entry_point.rsplit(".", 1)[-1]
    defined = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    if name and name not in defined:
        raise ValueError(f"the candidate does not define {name}")


def _copy_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
    else:
        shutil.copy2(src, dest)


class Snapshot:
    """One project as candidates see it (see the module docstring)."""

    def __init__(self, project: Path, root: Path):
        self.project = project
        self.rules = ProjectFiles(project)
        started = time.perf_counter()
        self.listing = self.rules.walk()
        self.walk_s = time.perf_counter() - started
        self.checked_at = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="snapshot-", dir=root))
        self.frozen: list[str] = []
        """Relative paths (files or directories) copied into `dir`, none inside another."""
        self.users = 0
        self.superseded = False
        self.checking = False
        self.changed: list[str] = []
        """Files found changed by the background check (the snapshot is then remade)."""
        self.empty_dir = self.dir.with_name(self.dir.name + "-empty")
        self.empty_dir.mkdir()
        self.empty_file = self.dir.with_name(self.dir.name + "-empty.txt")
        self.empty_file.write_text("")
        self.conftests = sorted(rel for rel in self.listing.files if rel.rsplit("/", 1)[-1] == "conftest.py")
        self.frozen_files: dict[str, tuple[int, int]] = {}
        """(size, mtime_ns) of every frozen file when it was copied: re-checked before each run."""
        self.cached_rewrites: dict[str, str] = {}
        """pytest's cached rewrites of frozen test files, copied beside their copies
        (`copy_cached_rewrites`): relative path of the copy -> the SHA-256 of its bytes."""

    def is_frozen(self, rel: str) -> bool:
        return any(rel == f or rel.startswith(f + "/") for f in self.frozen)

    def freeze(self, rel: str) -> None:
        """Copy project/rel (a file, or a directory under the ignore rules) into the snapshot."""
        rel = rel.strip("/")
        if self.is_frozen(rel) or ".." in Path(rel).parts:
            return  # a node id outside the project names nothing we copy
        src = self.project / rel
        if src.is_dir() and not src.is_symlink():
            listing = self.rules.walk(rel)
            for file in listing.files:
                _copy_file(self.project / file, self.dir / file)
            self.frozen_files.update(listing.files)
            for directory in listing.dirs:
                (self.dir / directory).mkdir(parents=True, exist_ok=True)
            for hidden in listing.hidden_dirs:  # ignored subdirectories stay hidden under the bind
                (self.dir / hidden).mkdir(parents=True, exist_ok=True)
                if hidden.rsplit("/", 1)[-1] == "__pycache__":
                    self.copy_cached_rewrites(hidden, listing.files)
            self.frozen = [f for f in self.frozen if not f.startswith(rel + "/")]
        elif rel in self.listing.files:
            _copy_file(src, self.dir / rel)
            self.frozen_files[rel] = self.listing.files[rel]
        else:
            return  # not part of the project as we see it (ignored, secret, special, missing)
        self.frozen.append(rel)

    def copy_cached_rewrites(self, cache: str, files: dict[str, tuple[int, int]]) -> None:
        """Copy into the snapshot's (read-only) `cache` the files where pytest cached its
        rewrite of a test module frozen beside it (`NAME.TAG-pytest-VERSION.pyc`), unless
        they are stale for the copied source, so that a run imports the tests as plain
        pytest does, without rewriting them again. Only the user's pytest writes them (a run
        never writes the project); pytest in the run checks each against its source as it
        always does, and the run's plugin takes one as the tests' code only with the SHA-256
        recorded here (`Prepared.cached_rewrites`)."""
        folder = cache.rpartition("/")[0]
        try:
            names = [e.name for e in os.scandir(self.project / cache) if e.is_file(follow_symlinks=False)]
        except OSError:
            return
        for name in names:
            stem, dot, rest = name.partition(".")
            source = f"{folder}/{stem}.py" if folder else f"{stem}.py"
            if not dot or "-pytest-" not in rest or not rest.endswith(".pyc") or source not in files:
                continue
            try:
                data = (self.project / cache / name).read_bytes()
                if _stale_rewrite(data, self.dir / source):
                    continue
            except OSError:
                continue
            (self.dir / cache / name).write_bytes(data)
            self.cached_rewrites[f"{cache}/{name}"] = hashlib.sha256(data).hexdigest()

    def freeze_for(self, target_rel: str, node_ids: list[str]) -> None:
        """Freeze what the tests depend on: the target, the test tree, conftests, config."""
        self.freeze(target_rel)
        for node_id in node_ids:
            rel = node_id.split("::", 1)[0].strip("/")
            path = self.project / rel
            if path.is_file():
                parent = rel.rpartition("/")[0]
                self.freeze(parent if parent else rel)  # the whole test directory, not the root
            elif path.is_dir() and rel not in ("", "."):
                self.freeze(rel)
            elif path.is_dir():  # the project root given as a test path: every test file
                for file in self.listing.files:
                    name = file.rsplit("/", 1)[-1]
                    if name.startswith("test_") or name.endswith("_test.py"):
                        self.freeze(file)
        for rel in self.conftests:
            self.freeze(rel)
        for name in CONFIG_FILES:
            self.freeze(name)

    def frozen_changed(self) -> bool:
        """Whether a file under test changed (a few stats: checked before every run)."""
        for rel, stamp in self.frozen_files.items():
            try:
                st = os.lstat(self.project / rel)
            except OSError:
                return True
            if (st.st_size, st.st_mtime_ns) != stamp:
                return True
        return False

    def changed_files(self) -> list[str]:
        """What differs between the project now and this snapshot's walk."""
        now = self.rules.walk().files
        before = self.listing.files
        return sorted({k for k in before.keys() | now.keys() if before.get(k) != now.get(k)})

    def mounts(self, mountpoint: Path) -> list[tuple[Path, Path]]:
        """Read-only binds (source, destination) over the overlay at `mountpoint`."""
        binds = [
            (self.empty_dir, mountpoint / rel)
            for rel in self.listing.hidden_dirs
            if not self.is_frozen(rel) and rel not in self.reused_bytecode
        ]
        binds += [(self.empty_file, mountpoint / rel) for rel in self.listing.secrets if not self.is_frozen(rel)]
        binds += [(self.dir / rel, mountpoint / rel) for rel in sorted(self.frozen, key=lambda r: r.count("/"))]
        return binds

    @functools.cached_property
    def reused_bytecode(self) -> frozenset[str]:
        """The project's `__pycache__` directories a run sees as they are, so that imports
        reuse the project's compiled modules as plain pytest does (through the overlay: what
        a run writes there lands in its throwaway layer). Python takes a cached file only
        when the size and modification time it records are those of the source the run
        sees; the candidate's own cached files are hidden (`Prepared.hide_bytecode`).

        Not shown (empty, as every other ignored directory): the caches of directories where
        pytest rewrites modules (test files under the project's `python_files`, conftests)
        or where a rewritten file lies already (`NAME.TAG-pytest-VERSION.pyc`), and those of
        frozen directories: their copy's cache holds only the cached rewrites orps copied
        and vouches for (`copy_cached_rewrites`)."""
        from runners.testing.pytestconfig import collect_rules

        rules = collect_rules(self.project)
        rewritten = set()
        for rel in self.listing.files:
            folder, _, name = rel.rpartition("/")
            if name == "conftest.py" or (name.endswith(".py") and rules.is_test_file(name)):
                rewritten.add(folder)
        shown = set()
        for rel in self.listing.hidden_dirs:
            if rel.rsplit("/", 1)[-1] != "__pycache__" or rel.rpartition("/")[0] in rewritten:
                continue
            try:
                if any("-pytest-" in name for name in os.listdir(self.project / rel)):
                    continue
            except OSError:
                continue
            shown.add(rel)
        return frozenset(shown)

    def notes(self) -> list[str]:
        left_out = self.listing.skipped + [f"{rel}: looks like a secret, left out" for rel in self.listing.secrets]
        if not left_out:
            return []
        more = f" (and {len(left_out) - 3} more)" if len(left_out) > 3 else ""
        return ["note: " + "; ".join(left_out[:3]) + more]


def _stale_rewrite(data: bytes, source: Path) -> bool:
    """Whether pytest's cached rewrite `data` is known not to be of `source` as it is now.
    pytest before 9 stamps the source's time and size (flags 0), pytest 9 its hash (flags
    3: checked here only when the magic number is this interpreter's, whose hash it is;
    otherwise the run's pytest checks it)."""
    flags = data[4:8]
    if flags == b"\0\0\0\0":
        st = source.stat()
        mtime, size = int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF
        return data[8:16] != mtime.to_bytes(4, "little") + size.to_bytes(4, "little")
    if flags == b"\3\0\0\0":
        ours = data[:4] == importlib.util.MAGIC_NUMBER
        return ours and importlib.util.source_hash(source.read_bytes())[:8] != data[8:16]
    return True


def bytecode_suffixes(cache_tag: str | None, pytest_version: str | None) -> tuple[str, ...] | None:
    """The endings of every cached bytecode file the test interpreter would read for a
    module (`words` + `.cpython-311.pyc`, its optimized variants, and pytest's rewritten
    `.cpython-311-pytest-8.3.4.pyc`); None when its cache tag is unknown."""
    if not cache_tag:
        return None
    endings = [f".{cache_tag}.pyc", f".{cache_tag}.opt-1.pyc", f".{cache_tag}.opt-2.pyc"]
    if pytest_version:
        endings.append(f".{cache_tag}-pytest-{pytest_version}.pyc")
    return tuple(endings)


class _Snapshots:
    """The process-wide snapshots, one per project, kept fresh, removed when unused."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_project: dict[Path, Snapshot] = {}
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None or not self._root.is_dir():
            self._root = Path(tempfile.mkdtemp(prefix="orps-snapshots-"))
            atexit.register(remove_tree, self._root)
        return self._root

    def acquire(self, project: Path) -> tuple[Snapshot, list[str]]:
        """The current snapshot of `project` (now in use: `release` it), and the files that
        changed since the previous one, when it had to be remade."""
        with self.lock:
            snap = self.by_project.get(project)
            changed: list[str] = []
            if snap is not None and (snap.changed or snap.frozen_changed()):
                changed = snap.changed or snap.changed_files()
                self._retire(snap)
                snap = None
            elif (
                snap is not None
                and not snap.checking
                and time.monotonic() - snap.checked_at >= max(RECHECK_MIN_S, 20 * snap.walk_s)
            ):
                self._check_later(snap)
            if snap is None:
                snap = self.by_project[project] = Snapshot(project, self.root)
            snap.users += 1
            return snap, changed

    def release(self, snap: Snapshot) -> None:
        with self.lock:
            snap.users -= 1
            if snap.superseded and snap.users == 0:
                self._remove_later(snap)

    def _retire(self, snap: Snapshot) -> None:
        snap.superseded = True
        if snap.users == 0:
            self._remove_later(snap)

    @staticmethod
    def _check_later(snap: Snapshot) -> None:
        """Walk the whole project in the background: runs never wait for it; a change found
        retires the snapshot at the next `acquire`."""
        snap.checking = True

        def check() -> None:
            try:
                snap.changed = snap.changed_files()
            finally:
                snap.checked_at = time.monotonic()
                snap.checking = False

        threading.Thread(target=check, name="orps-snapshot-check", daemon=True).start()

    @staticmethod
    def _remove_later(snap: Snapshot) -> None:
        def remove() -> None:
            for path in (snap.dir, snap.empty_dir, snap.empty_file):
                remove_tree(path)

        threading.Thread(target=remove, name="orps-snapshot-cleanup", daemon=True).start()


SNAPSHOTS = _Snapshots()


@dataclass
class Prepared:
    """A workspace ready to run, and how to mount it."""

    path: Path
    """Where the tests run (the mount point of the overlay, or a real copy)."""
    node_ids: list[str]
    source: Path
    """Where the same files can be read from outside the sandbox (for plugin detection)."""
    lower: Path | None = None
    """The overlay's read-only lower layer (the project), when mounted copy-on-write."""
    mounts: list[tuple[Path, Path]] = field(default_factory=list)
    conftests: list[str] = field(default_factory=list)
    """Conftest paths as the tests see them."""
    notes: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None
    extra: list[Path] = field(default_factory=list)
    """Our own files to remove with the workspace."""
    bytecode_suffixes: tuple[str, ...] | None = None
    """What `bytecode_suffixes` gave for the test interpreter (None: unknown)."""
    candidate_lines: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """Relative path -> the lines the candidate wrote there (`runners.code.authorship`);
    a candidate file not listed is the candidate's whole."""
    replaced: set[str] = field(default_factory=set)
    """Relative paths of the files this run sees replaced (the candidate's module, a patch's
    files): their cached files are covered (`hide_bytecode`), never vouched for."""

    def cached_rewrites(self, replaced=()) -> dict[str, str]:
        """pytest's cached rewrites this run shows read-only (`Snapshot.copy_cached_rewrites`)
        of the test files it runs, but for files in `replaced` (a patch's): the path the run
        sees -> the SHA-256 of the bytes orps copied (the plugin's `trusted_bytecode`)."""
        if self.snapshot is None or not self.snapshot.cached_rewrites:
            return {}
        tests = {n.split("::", 1)[0].strip("/") for n in self.node_ids} - set(replaced) - self.replaced
        out = {}
        for rel, digest in self.snapshot.cached_rewrites.items():
            cache, _, name = rel.rpartition("/")
            folder = cache.rpartition("/")[0]
            source = f"{folder}/{name.partition('.')[0]}.py" if folder else f"{name.partition('.')[0]}.py"
            if source in tests:
                out[str(self.path / rel)] = digest
        return out

    def hide_bytecode(self, rel: str, rewritten_only: bool = False) -> None:
        """Keep the project's cached bytecode of `rel` (a file this run replaces: the
        candidate's module, a patched file) from standing in for the run's source: a cached
        file made from the project's version, of the same size and saved in the same second,
        would pass Python's check (and one made without a time stamp passes it always).
        Where the project's cache shows (`Snapshot.reused_bytecode`), or none exists yet,
        every name the interpreter or pytest could read gets an empty file bound over it
        (an empty file is not bytecode: the source is compiled), also names that do not
        exist yet (bwrap creates them in the throwaway layer), and whatever else is cached
        for that module now; with the tag unknown, the whole cache directory is hidden.
        `rewritten_only`: only pytest's rewritten files (a test file named on the command
        line outside the frozen directories: pytest rewrites it, and would read the
        project's rewritten file back under the project's path)."""
        if self.lower is None or self.snapshot is None:
            return
        parent = Path(rel).parent
        cache = self.path / parent / "__pycache__"
        if not rewritten_only:
            self.replaced.add(rel)
        if self.snapshot.is_frozen(parent.as_posix()):
            # A read-only copy whose cache holds only the cached rewrites orps copied: this
            # file's are of the text it replaces.
            stem = Path(rel).name.partition(".")[0]
            for copied in self.snapshot.cached_rewrites:
                folder, _, name = copied.rpartition("/")
                if not rewritten_only and folder == (parent / "__pycache__").as_posix() and name.startswith(stem + "."):
                    self.mounts.append((self.snapshot.empty_file, self.path / copied))
            return
        if (self.snapshot.empty_dir, cache) in self.mounts:
            return  # the cache hidden already
        if not _writable_through_overlay(self.lower, parent / "__pycache__"):
            # A name bound over must exist or be made, and making it in the throwaway layer
            # copies its directories up with their owner, which a user namespace cannot give
            # to files of another user (bwrap: "Value too large for defined data type"):
            # there the whole cache is hidden, over the directory that is already there.
            if (self.lower / parent / "__pycache__").is_dir():
                self.mounts.append((self.snapshot.empty_dir, cache))
            return
        if self.bytecode_suffixes is None or not rel.endswith(".py"):
            self.mounts.append((self.snapshot.empty_dir, cache))
            return
        stem = Path(rel).name[: -len(".py")]
        names = {stem + ending for ending in self.bytecode_suffixes if "-pytest-" in ending or not rewritten_only}
        try:
            names.update(
                e.name
                for e in os.scandir(self.lower / parent / "__pycache__")
                if e.name.startswith(stem + ".") and ("-pytest-" in e.name or not rewritten_only)
            )
        except OSError:
            pass
        self.mounts += [(self.snapshot.empty_file, cache / name) for name in sorted(names)]


def _writable_through_overlay(lower: Path, rel: Path) -> bool:
    """Whether a file can be made at `lower/rel` (or its nearest existing directory) in the
    overlay's throwaway layer: every directory up to `lower` is ours (user and group), as
    the sandbox's user namespace maps only those. A project checked out by another user (a
    mounted volume, sources unpacked as root with their archive's owners) is not."""
    uid, gid = os.geteuid(), os.getegid()
    path = lower / rel
    while True:
        try:
            st = path.stat()
        except FileNotFoundError:
            if path == lower:
                return False
            path = path.parent
            continue
        except OSError:
            return False
        if st.st_uid != uid or st.st_gid != gid:
            return False
        if path == lower or lower not in path.parents:
            return True
        path = path.parent


class Workspaces:
    """Creates and removes workspaces under one private temp root (removed by `close`)."""

    def __init__(self, root: str | None = None, *, copy_on_write: Callable[[Path], bool] | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="orps-ws-", dir=root))
        self.plugin_dir = self.root / "plugin"
        self.plugin_dir.mkdir()
        # Under a private module name: never shadows anything in the user's project.
        shutil.copyfile(PLUGIN_SOURCE, self.plugin_dir / f"{PLUGIN_MODULE}.py")
        shutil.copyfile(BOOT_SOURCE, self.plugin_dir / f"{BOOT_MODULE}.py")
        shutil.copyfile(COMPAT_SOURCE, self.plugin_dir / COMPAT_SOURCE.name)
        if copy_on_write is None:
            from runners.sandbox import bwrap

            def copy_on_write(project: Path) -> bool:
                return bwrap.bwrap_works()[0] and bwrap.overlay_works() and bwrap.overlay_works_on(project)

        self._copy_on_write = copy_on_write
        self._reported: set[str] = set()

    def prepare(
        self,
        task: Task,
        code: str,
        tests: list[str],
        render_asserts: Callable[[Task, list[str]], str],
        bytecode: tuple[str, ...] | None = None,
    ) -> Prepared:
        """A workspace with the candidate in place, and the pytest node ids to run there.
        `bytecode`: `bytecode_suffixes` of the test interpreter (the candidate's cached files
        to hide; None hides its directory's whole cache).
        Raises ValueError when the candidate (or the project) cannot be put in place."""
        if task.kind == "asserts":
            check_candidate(code, task.entry_point)
            ws = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            (ws / "solution.py").write_text(code)
            (ws / ASSERTS_TEST_FILE).write_text(render_asserts(task, tests))
            (ws / "pytest.ini").write_text("[pytest]\n")
            (ws / "conftest.py").write_text("")  # bound read-only: a candidate cannot drop one here
            return Prepared(
                ws,
                [f"{ASSERTS_TEST_FILE}::test_{i}" for i in range(len(tests))],
                ws,
                conftests=[str(ws / "conftest.py")],
            )
        return self._prepare_project(task, code, list(tests), bytecode)

    def _prepare_project(
        self, task: Task, code: str, node_ids: list[str], bytecode: tuple[str, ...] | None
    ) -> Prepared:
        from runners.code.authorship import candidate_lines
        from runners.code.splice import SpliceError, splice_or_add

        try:
            target = Target.parse(task.target)
        except TargetError:
            raise ValueError(f"the target {task.target!r} is not of the form path.py::name") from None
        path, qualname = target.path, target.qualname
        project = Path(task.project).resolve()
        if not project.is_dir():
            raise WorkspaceError(f"the project directory {project} does not exist")
        rel_target = Path(path).as_posix().strip("/")
        try:
            snap, changed = SNAPSHOTS.acquire(project)
        except OSError as err:
            raise WorkspaceError(f"cannot read the project: {err}") from None
        try:
            try:
                snap.freeze_for(rel_target, node_ids)
            except (OSError, shutil.Error) as err:
                raise WorkspaceError(f"cannot snapshot the files under test: {err}") from None
            source_file = snap.dir / rel_target
            is_new = not source_file.is_file() and not (project / rel_target).exists() and not task.original_code
            if not source_file.is_file() and not is_new:
                raise ValueError(f"the target file {path} is not in the project")
            try:  # a new target (no code yet) is added to its module, or is a new file
                old_source = "" if is_new else source_file.read_text()
                new_source = splice_or_add(old_source, qualname, code)
            except SpliceError as err:
                raise ValueError(str(err)) from None
            except (OSError, UnicodeDecodeError) as err:
                raise WorkspaceError(f"cannot read the target file {path}: {err}") from None
            authored = candidate_lines(old_source, new_source, qualname)
            lines = {rel_target: authored} if authored is not None else {}
            ws = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            notes = self._notes(snap, changed)
            conftests = [str(ws / rel) for rel in snap.conftests]
            if self._copy_on_write(project):
                candidate = ws.with_name(ws.name + "-target.py")
                candidate.write_text(new_source)
                prepared = Prepared(
                    ws,
                    node_ids,
                    project,
                    lower=project,
                    mounts=snap.mounts(ws),
                    conftests=conftests,
                    notes=notes,
                    snapshot=snap,
                    extra=[candidate],
                    bytecode_suffixes=bytecode,
                    candidate_lines=lines,
                )
                prepared.mounts.append((candidate, ws / rel_target))
                prepared.hide_bytecode(rel_target)  # no bytecode of the original in its place
                for test_file in dict.fromkeys(n.split("::", 1)[0].strip("/") for n in node_ids):
                    if test_file.endswith(".py") and test_file != rel_target:
                        prepared.hide_bytecode(test_file, rewritten_only=True)
                return prepared
            self._materialize(snap, ws)
            target_file = ws / rel_target
            target_file.unlink(missing_ok=True)
            target_file.parent.mkdir(parents=True, exist_ok=True)
            target_file.write_text(new_source)
            return Prepared(ws, node_ids, ws, conftests=conftests, notes=notes, snapshot=snap, candidate_lines=lines)
        except BaseException:
            SNAPSHOTS.release(snap)
            raise

    def _notes(self, snap: Snapshot, changed: list[str]) -> list[str]:
        notes = []
        if changed:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            notes.append(f"note: the project changed during the search ({shown}); this run uses the new files")
        for note in snap.notes():
            if note not in self._reported:  # said once per evaluator, not in every feedback
                self._reported.add(note)
                notes.append(note)
        return notes

    @staticmethod
    def _materialize(snap: Snapshot, ws: Path) -> None:
        """The fallback: a real copy of what the overlay would show."""
        try:
            for rel in snap.listing.files:
                if not snap.is_frozen(rel):
                    _copy_file(snap.project / rel, ws / rel)
            for rel in snap.frozen:
                src = snap.dir / rel
                if src.is_dir() and not src.is_symlink():
                    shutil.copytree(src, ws / rel, symlinks=True, dirs_exist_ok=True)
                else:
                    _copy_file(src, ws / rel)
        except (OSError, shutil.Error) as err:
            raise WorkspaceError(f"cannot copy the project into the sandbox: {err}") from None

    def release(self, prepared: Prepared) -> None:
        for path in (prepared.path, *prepared.extra):
            remove_tree(path)
        if prepared.snapshot is not None:
            SNAPSHOTS.release(prepared.snapshot)
            prepared.snapshot = None

    def close(self) -> None:
        remove_tree(self.root)

    def __del__(self):  # a temp tree left behind would pile up over a long benchmark
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
