"""Throwaway workspaces: where a candidate runs, never the user's project.

Dataset tasks get a fresh directory with `solution.py`, a generated test file and an
empty `pytest.ini` (so the rootdir is there, whatever lies above). Project tasks get a copy
of the project: it is copied once per project *snapshot* into a private template (skipping
VCS, virtualenvs, caches, node_modules and our own `.orps/`), and each evaluation
hard-links that template (cheap) and writes only the target file anew. The sandbox mounts
the workspace read-only, so no link can be written through; and the links point into our
template, never into the user's files. A changed project (any file's size or mtime) gets a
new template.
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from search.types import Task

SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "env", ".tox", ".nox", "node_modules", ".orps",
             "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", ".eggs"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".so.tmp")
ASSERTS_TEST_FILE = "test_solution.py"
PLUGIN_MODULE = "_orps_pytest_plugin"
PROTECTED = (ASSERTS_TEST_FILE, "pytest.ini", "conftest.py")
"""Files of an asserts workspace that stay read-only while the rest is writable."""
PLUGIN_SOURCE = Path(__file__).with_name("pytest_plugin.py")


def is_skipped(name: str) -> bool:
    """A file or directory name a workspace never copies (caches, build output, VCS data)."""
    return name in SKIP_DIRS or name.endswith(SKIP_SUFFIXES)


_skip = is_skipped


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if _skip(n)}


def snapshot(project: Path) -> tuple:
    """A cheap fingerprint of the files we would copy: (path, size, mtime) of each."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = sorted(d for d in dirnames if not _skip(d))
        for name in sorted(filenames):
            if _skip(name):
                continue
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            entries.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return tuple(entries)


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


class Workspaces:
    """Creates and removes workspaces under one private temp root (removed by `close`)."""

    def __init__(self, root: str | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="orps-ws-", dir=root))
        self._templates: dict[str, tuple[tuple, Path]] = {}
        self.plugin_dir = self.root / "plugin"
        self.plugin_dir.mkdir()
        # Under a private module name: never shadows anything in the user's project.
        shutil.copyfile(PLUGIN_SOURCE, self.plugin_dir / f"{PLUGIN_MODULE}.py")

    def template(self, project: Path) -> Path:
        """The warm copy of `project` for its current snapshot (made when missing or stale)."""
        project = project.resolve()
        if not project.is_dir():
            raise ValueError(f"the project directory {project} does not exist")
        key, snap = str(project), snapshot(project)
        cached = self._templates.get(key)
        if cached and cached[0] == snap:
            return cached[1]
        template = Path(tempfile.mkdtemp(prefix="template-", dir=self.root))
        shutil.copytree(project, template, ignore=_ignore, symlinks=True, dirs_exist_ok=True)
        self._templates[key] = (snap, template)
        if cached:
            shutil.rmtree(cached[1], ignore_errors=True)  # workspaces hold links, not the template
        return template

    def prepare(self, task: Task, code: str, tests: list[str],
                render_asserts: Callable[[Task, list[str]], str]) -> tuple[Path, list[str]]:
        """A workspace with the candidate in place, and the pytest node ids to run there.
        Raises ValueError when the candidate cannot be put in place."""
        if task.kind == "asserts":
            check_candidate(code, task.entry_point)
            ws = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            (ws / "solution.py").write_text(code)
            (ws / ASSERTS_TEST_FILE).write_text(render_asserts(task, tests))
            (ws / "pytest.ini").write_text("[pytest]\n")
            (ws / "conftest.py").write_text("")  # bound read-only: a candidate cannot drop one here
            return ws, [f"{ASSERTS_TEST_FILE}::test_{i}" for i in range(len(tests))]
        return self._prepare_project(task, code), list(tests)

    def _prepare_project(self, task: Task, code: str) -> Path:
        from runners.locate import SpliceError, splice_candidate

        path, sep, qualname = task.target.partition("::")
        if not sep or not qualname:
            raise ValueError(f"the target {task.target!r} is not of the form path.py::name")
        template = self.template(Path(task.project))
        source_file = template / path
        if not source_file.is_file():
            raise ValueError(f"the target file {path} is not in the project")
        try:
            new_source = splice_candidate(source_file.read_text(), qualname, code)
        except SpliceError as err:
            raise ValueError(str(err)) from None
        ws = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        shutil.copytree(template, ws, symlinks=True, dirs_exist_ok=True, copy_function=os.link)
        target = ws / path
        target.unlink()  # a new file, not a write through the hard link into the template
        target.write_text(new_source)
        return ws

    def release(self, ws: Path) -> None:
        shutil.rmtree(ws, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __del__(self):  # a temp tree left behind would pile up over a long benchmark
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
