"""The project's pytest collection rules, read statically (never by running pytest).

pytest reads its options from the first of pytest.ini (or .pytest.ini), pyproject.toml
(`[tool.pytest.ini_options]`), tox.ini (`[pytest]`) and setup.cfg (`[tool:pytest]`)
that has them. Test selection needs four: `testpaths`, `python_files`, `python_classes`
and `python_functions`; unset ones keep pytest's defaults.
"""

from __future__ import annotations

import configparser
import fnmatch
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CollectRules:
    testpaths: list[str] = field(default_factory=list)
    python_files: list[str] = field(default_factory=lambda: ["test_*.py", "*_test.py"])
    python_classes: list[str] = field(default_factory=lambda: ["Test"])
    python_functions: list[str] = field(default_factory=lambda: ["test"])

    def is_test_file(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.python_files)

    def is_test_class(self, name: str) -> bool:
        return _name_matches(name, self.python_classes)

    def is_test_function(self, name: str) -> bool:
        return _name_matches(name, self.python_functions)


def _name_matches(name: str, patterns: list[str]) -> bool:
    """pytest's rule: a pattern with a glob character is a glob, anything else a prefix."""
    return any(fnmatch.fnmatch(name, p) if any(c in p for c in "*?[") else name.startswith(p) for p in patterns)


def _ini_list(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def _from_ini(path: Path, section: str) -> dict | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(errors="replace"))
    except (configparser.Error, OSError):
        return None
    if not parser.has_section(section):
        return None
    return {key: _ini_list(value) for key, value in parser.items(section)}


def collect_rules(project: Path) -> CollectRules:
    """The rules pytest would use in `project` (its defaults where the config says nothing)."""
    from runners.project.files import pyproject_tool

    project = Path(project)
    options: dict | None = None
    for name in ("pytest.ini", ".pytest.ini"):  # each wins even when empty, as in pytest
        if options is None and (project / name).is_file():
            options = _from_ini(project / name, "pytest") or {}
    if options is None:
        table = pyproject_tool(project, "pytest", "ini_options")
        if table:
            options = {k: ([v] if isinstance(v, str) and k != "testpaths" else v) for k, v in table.items()}
            if isinstance(options.get("testpaths"), str):
                options["testpaths"] = _ini_list(options["testpaths"])
    if options is None and (project / "tox.ini").is_file():
        options = _from_ini(project / "tox.ini", "pytest")
    if options is None and (project / "setup.cfg").is_file():
        options = _from_ini(project / "setup.cfg", "tool:pytest")
    rules = CollectRules()
    for key in ("testpaths", "python_files", "python_classes", "python_functions"):
        value = (options or {}).get(key)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            words = [w for v in value for w in v.split()]  # a TOML string may hold several
            setattr(rules, key, words)
    return rules
