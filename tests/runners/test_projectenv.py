"""The project's own environment runs its tests: found as users expect, shown read-only in
the sandbox, and said plainly when it cannot run pytest or lacks a module."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from runners.project import env as projectenv
from runners.sandbox.bwrap import bwrap_works
from runners.testing.evaluator import SandboxEvaluator
from runners.testing.verdict import ENV_UNUSABLE, NOT_INSTALLED
from search.types import Task

needs_bwrap = pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")


def fake_env(where: Path) -> Path:
    """A directory shaped like a virtualenv (pyvenv.cfg, an executable bin/python)."""
    (where / "bin").mkdir(parents=True)
    (where / "pyvenv.cfg").write_text("home = /usr/bin\n")
    exe = where / "bin" / "python"
    exe.write_text('#!/bin/sh\nexec python3 "$@"\n')
    exe.chmod(0o755)
    return exe


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0.1"\n')
    return root


def test_an_activated_virtualenv_comes_first(project, tmp_path):
    active = fake_env(tmp_path / "active")
    fake_env(project / ".venv")
    found = projectenv.find_project_python(project, {"VIRTUAL_ENV": str(tmp_path / "active")})
    assert found.path == str(active) and found.kind == "virtualenv" and "VIRTUAL_ENV" in found.reason


def test_orps_own_activated_env_yields_to_the_projects(project):
    exe = fake_env(project / ".venv")
    found = projectenv.find_project_python(project, {"VIRTUAL_ENV": sys.prefix})
    assert found.path == str(exe) and found.kind == "in-project"


def test_dot_venv_then_venv(project):
    venv = fake_env(project / "venv")
    assert projectenv.find_project_python(project, {}).path == str(venv)
    dot = fake_env(project / ".venv")
    found = projectenv.find_project_python(project, {})
    assert found.path == str(dot) and found.reason == "the project's .venv/ directory"


def test_uv_project_environment(project, tmp_path):
    (project / "uv.lock").write_text("")
    exe = fake_env(project / "envs" / "dev")
    found = projectenv.find_project_python(project, {"UV_PROJECT_ENVIRONMENT": "envs/dev"})
    assert found.path == str(exe) and found.kind == "uv"


def test_pdm_pinned_interpreter(project, tmp_path):
    (project / "pdm.lock").write_text("")
    exe = fake_env(tmp_path / "pdm-venv")
    (project / ".pdm-python").write_text(str(exe) + "\n")
    found = projectenv.find_project_python(project, {})
    assert found.path == str(exe) and found.kind == "pdm"


def test_poetry_central_virtualenv(project, tmp_path):
    (project / "poetry.lock").write_text("")
    (project / "pyproject.toml").write_text('[tool.poetry]\nname = "My Proj"\nversion = "0.1"\n')
    digest = base64.urlsafe_b64encode(hashlib.sha256(os.path.realpath(project).encode()).digest()).decode()[:8]
    exe = fake_env(tmp_path / "poetry" / f"my_proj-{digest}-py3.11")
    found = projectenv.find_project_python(project, {"POETRY_VIRTUALENVS_PATH": str(tmp_path / "poetry")})
    assert found.path == str(exe) and found.kind == "poetry"


def test_hatch_default_environment(project, tmp_path):
    (project / "pyproject.toml").write_text('[project]\nname = "proj"\n[tool.hatch.envs.default]\nx = 1\n')
    digest = base64.urlsafe_b64encode(hashlib.sha256(str(project).encode()).digest()).decode()[:8]
    exe = fake_env(tmp_path / "hatch" / "env" / "virtual" / "proj" / digest / "proj")
    found = projectenv.find_project_python(project, {"HATCH_DATA_DIR": str(tmp_path / "hatch")})
    assert found.path == str(exe) and found.kind == "hatch"


def test_hatch_explicit_path(project):
    (project / "hatch.toml").write_text('[envs.default]\npath = ".hatch/default"\n')
    exe = fake_env(project / ".hatch" / "default")
    assert projectenv.find_project_python(project, {}).path == str(exe)


def test_the_python_setting_when_nothing_else_is_found(project, tmp_path):
    exe = fake_env(tmp_path / "elsewhere")
    (project / "orps.toml").write_text(f'python = "{exe}"\n')
    found = projectenv.find_project_python(project, {})
    assert found.path == str(exe) and found.kind == "config"
    fake_env(project / ".venv")  # an in-project environment comes first, and the note says so
    found = projectenv.find_project_python(project, {})
    assert found.kind == "in-project" and "not used" in found.notes[0]


def test_relative_python_setting_is_relative_to_the_project(project):
    exe = fake_env(project / "envs" / "x")
    (project / "pyproject.toml").write_text('[tool.orps]\npython = "envs/x/bin/python"\n')
    assert projectenv.find_project_python(project, {}).path == str(exe)


def test_nothing_found_is_orps_own_python(project):
    found = projectenv.find_project_python(project, {})
    assert found.path == sys.executable and found.kind == "orps" and "no project environment" in found.reason


def test_missing_pytest_is_a_clear_problem_with_the_fix(project):
    chosen = projectenv.ProjectPython("/x/.venv/bin/python", "the project's .venv/ directory", "in-project")
    problem = projectenv.usable(chosen, projectenv.InterpreterInfo("/x/.venv/bin/python", "3.11.0", None))
    assert "pytest is not installed in /x/.venv/bin/python" in problem.message
    assert "/x/.venv/bin/python -m pip install pytest" in problem.hint
    uv = projectenv.ProjectPython("/x/.venv/bin/python", "uv", "uv")
    assert "uv add --dev pytest" in projectenv.usable(uv, projectenv.InterpreterInfo("p", "3.11", None)).hint
    old = projectenv.usable(chosen, projectenv.InterpreterInfo("p", "3.11", "6.2.5"))
    assert "too old" in old.message


def test_describe_orps_own_interpreter():
    info = projectenv.describe(sys.executable)
    assert info.pytest == pytest.__version__ and info.site_dirs and not info.error


def make_venv(where: Path, *, with_pytest: bool, modules: dict[str, str] = ()) -> Path:
    """A real virtualenv made offline: pytest and its dependencies copied from ours (when
    asked), and `modules` (name -> source) as its third-party packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = Path(
        subprocess.run(
            [str(where / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    if with_pytest:
        wanted, seen = ["pytest"], set()
        while wanted:
            name = wanted.pop()
            if name in seen:
                continue
            seen.add(name)
            dist = importlib.metadata.distribution(name)
            for file in dist.files or []:
                src = Path(dist.locate_file(file))
                if src.is_file() and "__pycache__" not in file.parts and not str(file).startswith(".."):
                    (site / file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, site / file)
            for text in dist.requires or []:
                req = Requirement(text)
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    wanted.append(req.name)
    for name, source in dict(modules).items():
        (site / f"{name}.py").write_text(source)
    if with_pytest:  # an installed pytest plugin (an entry point), as pytest-mock provides `mocker`
        (site / "mplug_fixtures.py").write_text("import pytest\n\n@pytest.fixture\ndef magic():\n    return 42\n")
        info = site / "zz_fixtures-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zz-fixtures\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[pytest11]\nzz-fixtures = mplug_fixtures\n")
    return where / "bin" / "python"


def dep_project(root: Path) -> Task:
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "fmt"\nversion = "0.1"\n')
    (root / "fmt.py").write_text("import humanlike\n\n\ndef size(n):\n    return humanlike.natural(n)\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_fmt.py").write_text(
        "from fmt import size\n\n\ndef test_size():\n    assert size(1000) == '1.0 kB'\n"
    )
    (root / "tests" / "test_plugin.py").write_text(
        "def test_fixture_of_an_installed_plugin(magic):\n    assert magic == 42\n"
    )
    return Task(
        id="fmt",
        problem="",
        entry_point="size",
        kind="project",
        target="fmt.py::size",
        project=str(root),
        tests=["tests/test_fmt.py::test_size"],
        original_code="def size(n):\n    return humanlike.natural(n)\n",
    )


HUMANLIKE = "def natural(n):\n    return f'{n / 1000:.1f} kB'\n"


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("warm", [True, False])
async def test_a_project_venv_with_a_third_party_module_runs_its_tests(tmp_path, warm):
    task = dep_project(tmp_path / "fmt")
    make_venv(tmp_path / "fmt" / ".venv", with_pytest=True, modules={"humanlike": HUMANLIKE})
    task.tests.append("tests/test_plugin.py::test_fixture_of_an_installed_plugin")  # autoloaded, as plain pytest
    async with SandboxEvaluator(timeout_s=30, warm=warm) as evaluator:
        ev = await evaluator.evaluate(task, task.original_code)
        assert ev.verdict == "passed" and ev.passed == 2, ev.message + ev.output
        assert evaluator.environment(task).chosen.kind == "in-project"
        # The venv is outside what every sandbox shows: the worker's first run must see it too.
        assert ev.isolation.endswith("+warm" if warm else "+cold"), ev.isolation


@pytest.mark.slow
@needs_bwrap
async def test_a_project_venv_without_pytest_is_said_with_the_fix(tmp_path):
    task = dep_project(tmp_path / "fmt")
    exe = make_venv(tmp_path / "fmt" / ".venv", with_pytest=False, modules={"humanlike": HUMANLIKE})
    async with SandboxEvaluator(timeout_s=30) as evaluator:
        ev = await evaluator.evaluate(task, task.original_code)
    assert ev.verdict == "error" and ev.message.startswith(ENV_UNUSABLE)
    assert f"pytest is not installed in {exe}" in ev.message and "-m pip install pytest" in ev.message


@pytest.mark.slow
@needs_bwrap
async def test_a_module_missing_from_the_interpreter_is_not_a_broken_test_file(tmp_path):
    task = dep_project(tmp_path / "fmt")  # no .venv: orps's own Python, which lacks humanlike
    async with SandboxEvaluator(timeout_s=30) as evaluator:
        ev = await evaluator.evaluate(task, task.original_code)
    assert f"ModuleNotFoundError: No module named 'humanlike': {NOT_INSTALLED} {sys.executable}" in ev.message, (
        ev.message
    )
    assert ev.message.startswith("the code under test does not import: line 1 of fmt.py")


def test_an_interpreter_is_asked_again_only_when_its_packages_change(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    python = make_venv(tmp_path / "venv", with_pytest=False)
    assert projectenv.describe(str(python)).pytest is None
    projectenv.describe.cache_clear()  # a new orps process: only the cache on disk remains
    asked = []
    real_run = subprocess.run
    monkeypatch.setattr(projectenv.subprocess, "run", lambda *a, **k: asked.append(a) or real_run(*a, **k))
    assert projectenv.describe(str(python)).pytest is None and asked == []
    site = Path(projectenv.describe(str(python)).site_dirs[-1])
    (site / "pytest").mkdir()  # a package installed since: the directory it went into changed
    (site / "pytest" / "__init__.py").write_text("__version__ = '8.9.0'\n")
    projectenv.describe.cache_clear()
    assert projectenv.describe(str(python)).pytest == "8.9.0" and len(asked) == 1


def test_an_editable_install_of_the_project_itself_is_not_reported_hidden(tmp_path, monkeypatch):
    # Poetry installs the project into its environment as a .pth line naming the project's
    # root: the sandbox shows the project as its copy, so only paths outside it are hidden.
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    info = projectenv.InterpreterInfo(python=sys.executable, added_paths=(str(root), str(root / "src"), str(outside)))
    chosen = projectenv.ProjectPython(sys.executable, "the project's poetry environment", "poetry")
    monkeypatch.setattr(projectenv, "resolve", lambda project_root: projectenv.Resolved(chosen, info))
    assert projectenv.report(root)["hidden_paths"] == [str(outside)]
