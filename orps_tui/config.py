"""Settings: defaults < `[tool.orps]` in pyproject.toml < `orps.toml` < command-line flags.

Every effective value remembers where it came from (`orps doctor` shows it). Unknown
keys and values of the wrong type are named in the error, with a suggestion.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from orps_tui.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from runners.target import Target
from search.settings import EMBEDDED_CRITIC_NOTE, EMBEDDED_MODEL, PRESETS, SearchSettings

ALIASES = {"timeout": "timeout_s", "memory": "memory_mb"}
EXTRA_KEYS = {
    "tests": list,
    "k": str,
    "target": str,
    "preset": str,
    "python": str,
    # read by runners.project.files too (the one ignore list, the sandbox's extra paths)
    "exclude": list,
    "allow_secrets": list,
    "sandbox_read": list,
}


@dataclass
class Config:
    settings: SearchSettings
    sources: dict[str, str] = field(default_factory=dict)
    """Where each effective value came from: default, pyproject.toml, orps.toml or cli."""
    extras: dict[str, Any] = field(default_factory=dict)
    """The non-search keys that were set: tests, k, target, preset, python."""


def _types() -> dict[str, type]:
    defaults = SearchSettings()
    return {f.name: type(getattr(defaults, f.name)) for f in fields(SearchSettings)}


def _coerce(key: str, value: Any, expected: type, origin: str) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise UserError(f"{origin}: {key} must be true or false, not {value!r}")
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise UserError(f"{origin}: {key} must be {expected.__name__}, not {value!r}")
    return value


def _apply(
    values: dict[str, Any], origin: str, merged: dict[str, Any], sources: dict[str, str], extras: dict[str, Any]
) -> None:
    types = _types()
    known = sorted(set(types) | set(EXTRA_KEYS) | set(ALIASES))
    if "preset" in values:
        preset = values["preset"]
        if preset not in PRESETS:
            raise UserError(f"{origin}: unknown preset {preset!r} (choose {', '.join(PRESETS)})")
        for k, v in PRESETS[preset].items():
            merged[k], sources[k] = v, f"{origin} (preset {preset})"
    for raw_key, value in values.items():
        key = ALIASES.get(raw_key, raw_key.replace("-", "_"))
        if key == "preset":
            continue
        if key in EXTRA_KEYS:
            if EXTRA_KEYS[key] is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise UserError(
                    f"{origin}: {raw_key} must be a list of strings (pytest node ids or paths), not {value!r}"
                )
            if not isinstance(value, EXTRA_KEYS[key]):
                raise UserError(f"{origin}: {raw_key} must be {EXTRA_KEYS[key].__name__}, not {value!r}")
            extras[key], sources[key] = value, origin
            continue
        if key not in types:
            close = difflib.get_close_matches(raw_key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"{origin}: unknown key {raw_key!r}{hint}")
        merged[key] = _coerce(raw_key, value, types[key], origin)
        sources[key] = origin


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path.name} is not valid TOML: {err}") from None


def load_config(project: Path, cli: dict[str, Any] | None = None) -> Config:
    project = Path(project)
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    extras: dict[str, Any] = {}
    pyproject = project / "pyproject.toml"
    if pyproject.is_file():
        section = _read_toml(pyproject).get("tool", {}).get("orps", {})
        if not isinstance(section, dict):
            raise UserError("pyproject.toml: [tool.orps] must be a table")
        _apply(section, "pyproject.toml", merged, sources, extras)
    orps_toml = project / "orps.toml"
    if orps_toml.is_file():
        data = _read_toml(orps_toml)
        _apply(
            data.get("orps", data) if isinstance(data.get("orps"), dict) else data, "orps.toml", merged, sources, extras
        )
    if cli:
        _apply({k: v for k, v in cli.items() if v is not None}, "cli", merged, sources, extras)
    settings = SearchSettings.from_dict(merged)
    problems = settings.validate()
    if problems:
        where = {p.split("=")[0]: sources.get(p.split("=")[0], "default") for p in problems}
        raise UserError("bad settings: " + "; ".join(f"{p} (from {where[p.split('=')[0]]})" for p in problems))
    if "critic" not in sources and settings.critic and not settings.critic_model and settings.model == EMBEDDED_MODEL:
        # Its critic answers never held a score in any measurement (BENCHMARKS.md): each
        # critic call would take a programmer call from the budget for nothing.
        settings.critic = False
        sources["critic"] = f"default, off: {EMBEDDED_CRITIC_NOTE}"
    for f in fields(SearchSettings):
        sources.setdefault(f.name, "default")
    return Config(settings, sources, extras)


ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py")


def find_project_root(start: Path) -> Path:
    """The project that `start` (a directory) is in: the nearest directory upwards with a
    pyproject.toml, setup.cfg or setup.py; else the git root; else `start` itself."""
    start = Path(start).resolve()
    for directory in (start, *start.parents):
        if any((directory / marker).is_file() for marker in ROOT_MARKERS):
            return directory
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def project_dir(given: str | None) -> Path:
    """`--project` when given (it must exist), else the project around the current directory."""
    if given is None:
        return find_project_root(Path.cwd())
    project = Path(given).resolve()
    if not project.is_dir():
        raise UserError(f"project directory {given} does not exist")
    return project


def path_in_project(project: Path, rel: str, cwd: Path | None = None) -> str:
    """A path as the project sees it: as given when it exists from the project root,
    else taken relative to where the user stands (`cd src; ... pkg/mod.py` means
    `src/pkg/mod.py`) when that exists inside the project; else unchanged (for the
    usual "no file" error)."""
    project = Path(project).resolve()
    if not rel or (not Path(rel).is_absolute() and (project / rel).exists()):
        return rel
    here = (Path(cwd or Path.cwd()) / rel).resolve()
    if here.exists() and here.is_relative_to(project):
        return here.relative_to(project).as_posix() or "."
    return rel


def target_in_project(project: Path, target: str, cwd: Path | None = None) -> str:
    """`path::name` with its path as the project sees it (see `path_in_project`)."""
    rel, rest = Target.path_of(target), Target.qualname_of(target)
    if not Target.looks_like(target) or not rel:
        return target
    return str(Target(path_in_project(project, rel, cwd), rest))
