"""Throwaway workspaces: where a candidate runs, never the user's project.

Dataset tasks get a fresh directory with `solution.py` and a generated test file.
Project tasks get a copy of the project: the project is copied once into a private
template (skipping VCS, virtualenvs, caches and our own `.orps/`), and each evaluation
hard-links that template (cheap) and writes only the target file anew. The sandbox
mounts the workspace read-only, so the links can never be written through; and they
point into our template, not into the user's files.
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from search.types import Task

SKIP = shutil.ignore_patterns(
    ".git", ".hg", ".svn", ".venv", "venv", "env", ".tox", ".nox", "node_modules", ".orps",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "*.egg-info", "build", "dist", "*.pyc",
)
ASSERTS_TEST_FILE = "test_solution.py"


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
    if name not in defined:
        raise ValueError(f"the candidate does not define {name}")


class Workspaces:
    def __init__(self, root: str | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="orps-ws-", dir=root))
        self._templates: dict[str, Path] = {}

    def _template(self, project: Path) -> Path:
        key = str(project.resolve())
        if key not in self._templates:
            template = self.root / f"template-{len(self._templates)}"
            shutil.copytree(project, template, ignore=SKIP, symlinks=True)
            self._templates[key] = template
        return self._templates[key]

    def refresh(self, project: Path) -> None:
        """Forget the template of `project` (its files changed on disk)."""
        old = self._templates.pop(str(project.resolve()), None)
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def prepare(self, task: Task, code: str, tests: list[str],
                render_asserts: Callable[[Task, list[str]], str]) -> tuple[Path, list[str]]:
        """A workspace with the candidate in place, and the pytest node ids to run there."""
        if task.kind == "asserts":
            check_candidate(code, task.entry_point)
            ws = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            (ws / "solution.py").write_text(code)
            (ws / ASSERTS_TEST_FILE).write_text(render_asserts(task, tests))
            (ws / "pytest.ini").write_text("[pytest]\n")  # rootdir here, whatever is above
            return ws, [f"{ASSERTS_TEST_FILE}::test_{i}" for i in range(len(tests))]
        from runners.locate import SpliceError, splice_candidate

        path, qualname = task.target.split("::", 1)
        template = self._template(Path(task.project))
        try:
            new_source = splice_candidate((template / path).read_text(), qualname, code)
        except SpliceError as err:
            raise ValueError(str(err)) from None
        ws = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        shutil.copytree(template, ws, symlinks=True, dirs_exist_ok=True, copy_function=os.link)
        target = ws / path
        target.unlink()  # a new file, not a write through the hard link into the template
        target.write_text(new_source)
        return ws, list(tests)

    def release(self, ws: Path) -> None:
        shutil.rmtree(ws, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __del__(self):  # a temp tree left behind would pile up over a long benchmark
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
