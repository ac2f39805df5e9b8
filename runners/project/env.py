"""Which Python runs a project's tests: the project's own environment, found as users expect.

Kept whole because finding, probing and judging the project's interpreter are one resolution
(`resolve`) sharing the probe cache and the `ProjectPython`/`InterpreterInfo` types.

`find_project_python(project_root)` returns the interpreter and the reason it was chosen,
looking, in this order, at:
1. an activated virtualenv (`VIRTUAL_ENV`), unless it is the environment orps itself runs
   in (a developer's shell with orps's own venv active) and the project has one of its own;
2. `.venv/` or `venv/` in the project root;
3. the environments of the tools the project uses: uv (`UV_PROJECT_ENVIRONMENT`), PDM
   (`.pdm-python`, its central venvs), Poetry (its central virtualenvs) and Hatch (the
   default environment, `path` or the central store);
4. `python = "..."` in `[tool.orps]` or `orps.toml` (relative to the project root);
5. orps's own interpreter (the project's dependencies must then be installed there).

`describe(python)` asks an interpreter once (cached) what the sandbox needs of it: its
version, pytest's version (None when pytest is missing), its prefixes and site directories,
the paths its `.pth` files and `PYTHONPATH` add, and its pytest plugins (entry points).
`usable(info)` says, with a fix, why an interpreter cannot run the tests (no pytest, too old
a pytest, no interpreter at that path).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from runners.project.files import pyproject_tool

MIN_PYTEST = (7, 0)
"""The oldest pytest our plugin supports (it is tested with 7 and 8)."""


@dataclass(frozen=True)
class ProjectPython:
    """The interpreter chosen for a project, and why (shown by `orps doctor` and `check -v`)."""

    path: str
    reason: str
    kind: str
    """"virtualenv", "in-project", "uv", "pdm", "poetry", "hatch", "config" or "orps"."""
    notes: tuple[str, ...] = ()
    """What else was found and not used (a `python =` setting overridden, for one)."""


@dataclass(frozen=True)
class InterpreterInfo:
    python: str
    version: str = ""
    pytest: str | None = None
    """pytest's version in that interpreter; None when it cannot import pytest."""
    prefixes: tuple[str, ...] = ()
    site_dirs: tuple[str, ...] = ()
    """The stdlib and site-packages directories (what the sandbox binds read-only)."""
    added_paths: tuple[str, ...] = ()
    """sys.path entries from `.pth` files or PYTHONPATH (never bound: see the sandbox)."""
    plugins: tuple[tuple[str, str], ...] = ()
    """(name, module) of every pytest11 entry point installed there."""
    error: str = ""
    """Why the interpreter could not be asked (missing, not executable, crashed)."""
    cache_tag: str | None = None
    """Its bytecode files' tag (`cpython-311`); None when it reads no cached bytecode."""
    magic: str = ""
    """Its bytecode format (`importlib.util.MAGIC_NUMBER`, hex)."""


def _bin(env: Path) -> Path | None:
    """The interpreter of the virtualenv at `env` (None when it is not one)."""
    for name in ("bin/python", "bin/python3", "Scripts/python.exe"):
        exe = env / name
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def _same_env(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _orps_prefix() -> Path:
    return Path(sys.prefix)


def _config_python(project: Path) -> str | None:
    """`python = "..."` from orps.toml (top level or [orps]) over [tool.orps] in pyproject.toml."""
    value = pyproject_tool(project, "orps").get("python")
    data = _toml(project / "orps.toml")
    orps = data.get("orps")
    table = orps if isinstance(orps, dict) else data
    value = table.get("python", value)
    return value if isinstance(value, str) and value.strip() else None


def _resolve_configured(project: Path, value: str) -> Path | None:
    path = Path(value).expanduser()
    if not path.is_absolute():
        if "/" in value:
            path = project / path
        else:  # a bare name: python3.12 on PATH
            found = shutil.which(value)
            path = Path(found) if found else project / path
    if path.is_dir():  # an environment's directory rather than its interpreter
        return _bin(path)
    return path if path.is_file() else None


def _uses(project: Path, lock: str, tool: str) -> bool:
    return (project / lock).is_file() or bool(pyproject_tool(project, tool))


def _project_name(project: Path) -> str:
    """[tool.poetry] name, else [project] name, else the directory's name."""
    data = _toml(project / "pyproject.toml")
    for table in (data.get("tool", {}).get("poetry", {}), data.get("project", {})):
        name = table.get("name") if isinstance(table, dict) else None
        if isinstance(name, str) and name:
            return name
    return project.name


def _toml(path: Path) -> dict:
    """A TOML file's data; {} when it is missing or does not parse."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _cache_home(environ) -> Path:
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _data_home(environ) -> Path:
    return Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _newest(paths) -> Path | None:
    found = [(p, exe) for p in paths if (exe := _bin(p)) is not None]
    if not found:
        return None
    return max(found, key=lambda pe: pe[0].stat().st_mtime)[1]


def _uv_env(project: Path, environ) -> Path | None:
    if not _uses(project, "uv.lock", "uv"):
        return None
    chosen = environ.get("UV_PROJECT_ENVIRONMENT")
    if chosen:
        env = Path(chosen).expanduser()
        return _bin(env if env.is_absolute() else project / env)
    return None  # uv's default is .venv in the project, looked at before


def _pdm_env(project: Path, environ) -> Path | None:
    if not (_uses(project, "pdm.lock", "pdm") or (project / ".pdm-python").is_file()):
        return None
    pinned = project / ".pdm-python"
    if pinned.is_file():  # `pdm use` writes the interpreter it chose here
        exe = Path(pinned.read_text().strip())
        if exe.is_file():
            return exe
    # PDM's central venvs: <data>/pdm/venvs/<name>-<md5 of the root, 8 chars>-<suffix>
    digest = base64.urlsafe_b64encode(hashlib.md5(project.as_posix().encode()).digest()).decode()[:8]
    base = _data_home(environ) / "pdm" / "venvs"
    return _newest(base.glob(f"{project.name}-{digest}-*")) if base.is_dir() else None


def _poetry_env(project: Path, environ) -> Path | None:
    if not _uses(project, "poetry.lock", "poetry"):
        return None
    # Poetry's name for the project's environment: <name>-<sha256 of the real path, 8>-py<X.Y>
    name = re.sub(r'[ $`!*@"\\\r\n\t]', "_", _project_name(project).lower())[:42]
    digest = base64.urlsafe_b64encode(
        hashlib.sha256(os.path.normcase(os.path.realpath(project)).encode()).digest()
    ).decode()[:8]
    base = Path(
        environ.get("POETRY_VIRTUALENVS_PATH")
        or Path(environ.get("POETRY_CACHE_DIR") or _cache_home(environ) / "pypoetry") / "virtualenvs"
    )
    return _newest(base.glob(f"{name}-{digest}-py*")) if base.is_dir() else None


def _hatch_env(project: Path, environ) -> Path | None:
    hatch_toml = project / "hatch.toml"
    if not (hatch_toml.is_file() or pyproject_tool(project, "hatch")):
        return None
    default = pyproject_tool(project, "hatch", "envs", "default")
    envs = _toml(hatch_toml).get("envs", {})
    if isinstance(envs, dict) and isinstance(envs.get("default"), dict):
        default = envs["default"]
    chosen = environ.get("HATCH_ENV_TYPE_VIRTUAL_PATH") or (default or {}).get("path")
    if isinstance(chosen, str) and chosen:
        env = Path(chosen).expanduser()
        return _bin(env if env.is_absolute() else project / env)
    # The central store: <data>/hatch/env/virtual/<name>/<sha256 of the root, 8>/<name>
    name = _project_name(project)
    digest = base64.urlsafe_b64encode(hashlib.sha256(str(project).encode()).digest()).decode()[:8]
    data = Path(environ["HATCH_DATA_DIR"]) if environ.get("HATCH_DATA_DIR") else _data_home(environ) / "hatch"
    return _bin(data / "env" / "virtual" / name / digest / name)


TOOLS = (("uv", _uv_env), ("pdm", _pdm_env), ("poetry", _poetry_env), ("hatch", _hatch_env))


def find_project_python(project_root: Path | str, environ=None) -> ProjectPython:
    """The interpreter that runs `project_root`'s tests, and why (see the module docstring)."""
    environ = os.environ if environ is None else environ
    project = Path(project_root).resolve()
    notes: list[str] = []
    configured = _config_python(project)
    own_active = None
    active = environ.get("VIRTUAL_ENV")
    found: ProjectPython | None = None
    if active:
        exe = _bin(Path(active))
        if exe is None:
            notes.append(f"VIRTUAL_ENV={active} has no interpreter: not used")
        elif _same_env(Path(active), _orps_prefix()):
            own_active = exe  # orps's own venv is active: the project's own comes first
        else:
            found = ProjectPython(str(exe), f"the activated virtualenv (VIRTUAL_ENV={active})", "virtualenv")
    if found is None:
        for name in (".venv", "venv"):
            exe = _bin(project / name)
            if exe is not None:
                found = ProjectPython(str(exe), f"the project's {name}/ directory", "in-project")
                break
    if found is None:
        for tool, finder in TOOLS:
            try:
                exe = finder(project, environ)
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                exe = None
            if exe is not None:
                found = ProjectPython(str(exe), f"the project's {tool} environment", tool)
                break
    if configured:
        exe = _resolve_configured(project, configured)
        if found is not None and exe is not None and _same_env(exe, Path(found.path)):
            pass  # the setting names what was found anyway
        elif found is None and exe is not None:
            found = ProjectPython(str(exe), f'python = "{configured}" in the orps settings', "config")
        elif exe is None:
            notes.append(f'python = "{configured}" in the orps settings names no interpreter: not used')
        else:
            assert found is not None  # (the branches above take found None with or without exe)
            notes.append(f'python = "{configured}" in the orps settings not used: {found.reason} comes first')
    if found is None:
        why = (
            "orps's own virtualenv is the activated one and the project has no environment of its own"
            if own_active
            else "no project environment found (no VIRTUAL_ENV, .venv/, venv/, uv, PDM, Poetry "
            "or Hatch environment, no python setting)"
        )
        found = ProjectPython(str(own_active or sys.executable), f"orps's own Python: {why}", "orps")
    return ProjectPython(found.path, found.reason, found.kind, tuple(notes))


_PROBE = r"""
import json, os, site, sys, sysconfig
def probe():
    out = {"version": "%d.%d.%d" % sys.version_info[:3], "prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix]}
    # the names and format of its bytecode (which cached .pyc files it would read)
    import importlib.util
    out["cache_tag"] = sys.implementation.cache_tag
    out["magic"] = importlib.util.MAGIC_NUMBER.hex()
    paths = sysconfig.get_paths()
    out["site_dirs"] = sorted({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
                              | set(site.getsitepackages() if hasattr(site, "getsitepackages") else []))
    out["sys_path"] = [p for p in sys.path if p]
    # pytest's version from its metadata: importing pytest costs a quarter of a second of
    # every check's start-up (imported only when it has no metadata, e.g. on a PYTHONPATH)
    out["pytest"] = None
    try:
        from importlib.metadata import version
        out["pytest"] = version("pytest")
    except Exception:
        try:
            import importlib.util
            if importlib.util.find_spec("pytest") is not None:
                import pytest
                out["pytest"] = pytest.__version__
        except Exception:
            pass
    try:
        from importlib.metadata import entry_points
        eps = entry_points()
        group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
        out["plugins"] = sorted({(ep.name, ep.value.split(":")[0]) for ep in group})
    except Exception:
        out["plugins"] = []
    return out
"""
"""Run in the interpreter asked (or in this one, for orps's own): what `describe` needs."""


def _within(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


PROBE_CACHE = "interpreters.json"
"""Under orps's cache directory: what each interpreter said, with the stamp it was true for."""


def cache_dir() -> Path:
    """orps's cache directory ($XDG_CACHE_HOME/orps, else ~/.cache/orps)."""
    return _cache_home(os.environ) / "orps"


def _probe_cache() -> Path:
    return cache_dir() / PROBE_CACHE


def _stamp(exe: Path, data: dict) -> list:
    """What changes when the interpreter's answer can change: the interpreter itself and the
    directories packages are installed into (installing, upgrading or removing a package or a
    .pth file adds or removes an entry there, which changes the directory's mtime)."""
    stamp = []
    for path in (os.path.realpath(exe), str(exe), *data.get("site_dirs", ())):
        try:
            st = os.stat(path)
        except OSError:
            return []
        stamp.append([path, st.st_mtime_ns, st.st_size, st.st_ino])
    return stamp


def _remembered(exe: Path) -> dict | None:
    """The probe's answer from an earlier run of orps, if nothing it depends on changed since:
    asking an interpreter costs a process start and a pytest import (0.2 s) on every command."""
    try:
        entry = json.loads(_probe_cache().read_text()).get(str(exe))
        # (an answer from an orps that did not ask for the bytecode's format is asked again)
        if entry and entry["stamp"] and "magic" in entry["data"] and entry["stamp"] == _stamp(exe, entry["data"]):
            return entry["data"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _remember(exe: Path, data: dict) -> None:
    path = _probe_cache()
    try:
        try:
            known = json.loads(path.read_text())
            known = known if isinstance(known, dict) else {}
        except (OSError, ValueError):
            known = {}
        known[str(exe)] = {"stamp": _stamp(exe, data), "data": data}
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_name(f".{path.name}.{os.getpid()}")
        fresh.write_text(json.dumps(known))
        os.replace(fresh, path)  # whole or not at all, whoever else writes it at the same time
    except OSError:
        pass  # a cache that cannot be written only costs the probe next time


@lru_cache(maxsize=32)
def describe(python: str) -> InterpreterInfo:
    """What `python` is (asked once per process, with no PYTHONPATH from our environment)."""
    exe = Path(python)
    if not exe.is_absolute():
        exe = Path(shutil.which(python) or python)
    if not exe.exists():
        return InterpreterInfo(python, error=f"{python} does not exist")
    if str(exe) == sys.executable:  # ourselves: no process to start
        namespace: dict = {}
        exec(_PROBE, namespace)  # noqa: S102 - our own constant
        data = namespace["probe"]()
    elif (data := _remembered(exe)) is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        try:
            run = subprocess.run(
                [str(exe), "-c", _PROBE + "\nprint(json.dumps(probe()))"],
                capture_output=True,
                text=True,
                timeout=60,
                cwd="/",
                env=env,
            )
            data = json.loads(run.stdout) if run.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, ValueError) as err:
            return InterpreterInfo(python, error=f"{python} cannot be run: {err}")
        if not isinstance(data, dict):
            return InterpreterInfo(python, error=f"{python} cannot be run: {(run.stderr or run.stdout).strip()[-300:]}")
        _remember(exe, data)
    prefixes = tuple(dict.fromkeys(os.path.realpath(p) for p in data["prefixes"]))
    site_dirs = tuple(dict.fromkeys(os.path.realpath(p) for p in data["site_dirs"] if os.path.isdir(p)))
    # Everything else on sys.path came from .pth files (editable installs) or the environment.
    added = tuple(
        p
        for p in dict.fromkeys(os.path.realpath(p) for p in data["sys_path"] if os.path.isabs(p))
        if not _within(p, prefixes + site_dirs) and os.path.exists(p) and not p.endswith((".zip",))
    )
    return InterpreterInfo(
        python,
        data["version"],
        data.get("pytest"),
        prefixes,
        site_dirs,
        added,
        tuple(tuple(x) for x in data.get("plugins", [])),
        cache_tag=data.get("cache_tag"),
        magic=data.get("magic", ""),
    )


def pytest_version(info: InterpreterInfo) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", info.pytest or "0")[:2])


@dataclass
class EnvProblem:
    message: str
    hint: str = ""
    kind: str = "no-pytest"


def install_hint(chosen: ProjectPython, what: str) -> str:
    """How to add `what` (a requirement) to that environment, in the project's own tool."""
    commands = {
        "uv": f"uv add --dev {what}",
        "poetry": f"poetry add --group dev {what}",
        "pdm": f"pdm add -dG test {what}",
        "hatch": f"add {what} to [tool.hatch.envs.default] dependencies",
    }
    own = commands.get(chosen.kind)
    pip = f"{chosen.path} -m pip install {what}"
    return f"{own} (or {pip})" if own else pip


def usable(chosen: ProjectPython, info: InterpreterInfo | None = None) -> EnvProblem | None:
    """Why `chosen` cannot run pytest with our plugin, with the fix; None when it can."""
    info = info or describe(chosen.path)
    if info.error:
        return EnvProblem(
            f"the project's Python cannot be used: {info.error} ({chosen.reason})",
            'point orps at a working interpreter: python = "path/to/bin/python" in orps.toml',
            "broken",
        )
    if info.pytest is None:
        return EnvProblem(
            f"pytest is not installed in {chosen.path} ({chosen.reason})", f"add it: {install_hint(chosen, 'pytest')}"
        )
    if pytest_version(info) < MIN_PYTEST:
        return EnvProblem(
            f"pytest {info.pytest} in {chosen.path} is too old: orps needs pytest 7 or later ({chosen.reason})",
            f"upgrade it: {install_hint(chosen, 'pytest>=7')}",
            "old-pytest",
        )
    return None


@dataclass
class Resolved:
    """A project's interpreter, what it is, and why it cannot be used (if so): cached per project."""

    chosen: ProjectPython
    info: InterpreterInfo
    problem: EnvProblem | None = None
    notes: list[str] = field(default_factory=list)


def resolve(project_root: Path | str, environ=None) -> Resolved:
    chosen = find_project_python(project_root, environ)
    info = describe(chosen.path)
    return Resolved(chosen, info, usable(chosen, info))


def report(project_root: Path | str) -> dict:
    """For `orps doctor` and `orps check -v/--json`: the interpreter, why, its pytest, what
    is wrong with it (with the fix), and the .pth/PYTHONPATH directories the sandbox hides."""
    found = resolve(project_root)
    root = Path(project_root).resolve()
    # The project's own directories (an editable install of it: Poetry's, pip -e) are its copy.
    hidden = [p for p in found.info.added_paths if not Path(p).resolve().is_relative_to(root)]
    out = {
        "path": found.chosen.path,
        "reason": found.chosen.reason,
        "kind": found.chosen.kind,
        "python": found.info.version,
        "pytest": found.info.pytest,
        "notes": list(found.chosen.notes),
        "hidden_paths": hidden,
    }
    if found.problem:
        out["problem"], out["hint"] = found.problem.message, found.problem.hint
    return out


def runs_in_orps_environment(env: Resolved) -> bool:
    """Whether the tests run in orps's own environment, whose installed pytest plugins are
    orps's, not the project's. (A venv's python links to the same binary as ours: the
    prefixes tell them apart.)"""
    return env.chosen.kind == "orps" or (env.info.prefixes or [""])[0] == os.path.realpath(sys.prefix)


def interpreter_view(env: Resolved) -> list[Path]:
    """What the sandbox shows of the interpreter running the tests: its virtualenv (where it
    is, even inside the project: bound read-only, never copied), its prefixes, stdlib and
    site-packages. Not the directories its `.pth` files or a PYTHONPATH add (editable
    installs): the project's own are its copy, others go in `sandbox_read`."""
    exe = Path(env.chosen.path)
    paths = [Path(p) for p in (*env.info.prefixes, *env.info.site_dirs)]
    if (exe.parent.parent / "pyvenv.cfg").is_file():
        paths.append(exe.parent.parent)
    return paths
