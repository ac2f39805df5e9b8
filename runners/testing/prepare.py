"""What one test run is given, besides the candidate: the asserts test file of a dataset
task, the paths that stay read-only in a copy-on-write project, the project's pytest plugins
and the `addopts` kept from its configuration, which files are tests, whole files replaced
(a patch's result) and what the plugin is told about the candidate (`trust_info`).
"""

from __future__ import annotations

import ast
import functools
import textwrap
from collections.abc import Sequence
from pathlib import Path

from runners.project import env as projectenv
from runners.sandbox.workspace import PLUGIN_MODULE, Prepared, bytecode_suffixes
from runners.target import Target
from search.types import Task


def asserts_test_file(task: Task, tests: list[str]) -> str:
    """One pytest test per assert snippet, after the dataset's setup code."""
    parts = ["from solution import *  # noqa", task.test_setup or "", ""]
    for i, snippet in enumerate(tests):
        body = snippet.strip() or "pass"
        try:
            ast.parse(body)
        except SyntaxError as err:  # a broken dataset test fails alone, not the whole file
            body = f"raise AssertionError({'this test does not parse: ' + str(err)!r})"
        parts.append(f"def test_{i}():\n" + textwrap.indent(body, "    ") + "\n")
    return "\n".join(parts)


def protected_project_paths(workspace: Path, node_ids: list[str], conftests: list[str]) -> list[Path]:
    """The test files named by `node_ids`, every conftest, and an (empty) `__pycache__` beside
    each of them: what must stay read-only in a copy-on-write project workspace."""
    files = {Path(c) for c in conftests}
    for node_id in node_ids:
        path = (workspace / node_id.split("::", 1)[0]).resolve()
        if path.is_file() and workspace.resolve() in path.parents:
            files.add(path)
        elif path.is_dir() and workspace.resolve() in (path, *path.parents):
            files.update(path.rglob("test_*.py"))
            files.update(path.rglob("*_test.py"))
    protected: list[Path] = []
    for path in sorted(files):
        cache_dir = path.parent / "__pycache__"
        cache_dir.mkdir(exist_ok=True)  # in our hard-linked copy, never the user's project
        protected += [path, cache_dir]
    return sorted(set(protected))


@functools.cache
def _pytest_entry_points() -> tuple[tuple[str, str], ...]:
    """(name, module) of every installed pytest plugin: read once, as scanning every
    distribution's metadata costs 0.1 s or more per evaluation."""
    from importlib.metadata import entry_points

    return tuple((ep.name, ep.value.split(":")[0]) for ep in entry_points(group="pytest11"))


def project_plugins(
    workspace: Path, files: list[Path] | None = None, entry_points: tuple[tuple[str, str], ...] | None = None
) -> list[str]:
    """Installed pytest plugins (entry points) that the project's config, conftest or test
    files mention by name or module, plus pytest-asyncio when tests are `async def`.
    `files` (default: found by globbing `workspace`) are the files to read; `entry_points`
    (default: orps's own interpreter's) the plugins installed where the tests run."""
    if files is None:
        files = [
            path
            for pattern in (
                "pyproject.toml",
                "setup.cfg",
                "pytest.ini",
                "tox.ini",
                "**/conftest.py",
                "**/test_*.py",
                "**/*_test.py",
            )
            for path in workspace.glob(pattern)
        ]
    texts = []
    for path in files:
        try:
            texts.append(path.read_text(errors="replace")[:200_000])
        except OSError:
            pass
    text = "\n".join(texts)
    wanted = []
    for name, module in _pytest_entry_points() if entry_points is None else entry_points:
        top = module.split(".")[0]
        uses = name in text or top in text
        if name == "asyncio" and ("async def test" in text or "mark.asyncio" in text):
            uses = True
        if uses and module not in wanted:
            wanted.append(module)
    return wanted


ADDOPTS_FLAGS = frozenset(
    {
        "--strict-markers",
        "--strict-config",
        "--strict",
        "--runxfail",
        "--doctest-modules",
        "--reuse-db",
        "--create-db",
        "--nomigrations",
        "--no-migrations",
    }
)
ADDOPTS_VALUES = frozenset(
    {
        "-p",
        "-W",
        "--pythonwarnings",
        "--import-mode",
        "--asyncio-mode",
        "--ds",
        "--dc",
        "--timeout",
        "--hypothesis-profile",
        "--hypothesis-seed",
        "--doctest-glob",
    }
)
"""The project's `addopts` that decide *what* its tests do (how modules are imported, which
marks are allowed, which warnings are errors, plugin modes): kept, so verdicts match plain
pytest's. The rest (workers, coverage, reports, output, -x, -k/-m, paths) would change how
the run is recorded or which tests run, and is dropped."""


def _ini_addopts(root: Path) -> str:
    """The addopts of the config file pytest would read in `root` (its own order)."""
    import configparser

    for name, section in (
        ("pytest.ini", "pytest"),
        (".pytest.ini", "pytest"),
        ("pyproject.toml", None),
        ("tox.ini", "pytest"),
        ("setup.cfg", "tool:pytest"),
    ):
        path = root / name
        if not path.is_file():
            continue
        if section is None:
            from runners.project.files import pyproject_tool

            table = pyproject_tool(root, "pytest", "ini_options")
            if not table:
                continue
            value = table.get("addopts", "")
            return " ".join(value) if isinstance(value, list) else str(value)
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_section(section) or name.endswith("pytest.ini"):
            return parser.get(section, "addopts", fallback="") if parser.has_section(section) else ""
    return ""


def kept_addopts(root: Path) -> str:
    """The project's addopts that orps keeps (`ADDOPTS_FLAGS`, `ADDOPTS_VALUES`), as one string."""
    import shlex

    try:
        tokens = shlex.split(_ini_addopts(root))
    except ValueError:
        return ""
    kept, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
        if token in ADDOPTS_FLAGS or (name in ADDOPTS_VALUES and "=" in token):
            kept.append(token)
        elif token in ADDOPTS_VALUES and i + 1 < len(tokens):
            if not (token == "-p" and tokens[i + 1] in ("cacheprovider", "no:" + PLUGIN_MODULE)):
                kept += [token, tokens[i + 1]]
            i += 1
        elif token[:2] in ("-p", "-W") and len(token) > 2 and not token.startswith("--"):
            kept.append(token)
        i += 1
    return shlex.join(kept)


def is_test_file(rel: str) -> bool:
    """A file pytest would collect or configure itself from: tests, conftests, test dirs."""
    parts = Path(rel).parts
    name = parts[-1] if parts else ""
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(p in ("tests", "test", "testing") for p in parts[:-1])
    )


def _non_test(files: dict[str, str]) -> list[str]:
    return [rel for rel in files if not is_test_file(rel)]


def bytecode_of(env: projectenv.Resolved) -> tuple[str, ...] | None:
    """The endings of the cached bytecode files the test interpreter reads (`Prepared.hide_bytecode`)."""
    return bytecode_suffixes(env.info.cache_tag, env.info.pytest)


def _replace_files(prepared: Prepared, files: dict[str, str]) -> None:
    """Whole files replaced in a prepared project workspace (a patch's result): bound over
    the copy-on-write view (after the snapshot's read-only binds, so a patched test wins),
    or written into a real copy (a new file, never a write through a hard link)."""
    from runners.code.authorship import candidate_lines

    for n, (rel, text) in enumerate(sorted(files.items())):
        try:
            before = (prepared.source / rel).read_text()
        except (OSError, UnicodeDecodeError):
            before = ""
        authored = candidate_lines(before, text)
        if authored is None:
            prepared.candidate_lines.pop(rel, None)
        else:
            prepared.candidate_lines[rel] = authored
        if prepared.lower is not None:
            replaced = prepared.path.with_name(f"{prepared.path.name}-file{n}{Path(rel).suffix}")
            replaced.write_text(text)
            prepared.extra.append(replaced)
            prepared.mounts.append((replaced, prepared.path / rel))
            prepared.hide_bytecode(rel)
        else:
            path = prepared.path / rel
            path.unlink(missing_ok=True)
            path.write_text(text)


def trust_info(
    task: Task,
    workspace: Path,
    node_ids: list[str],
    changed: Sequence[str] = (),
    lines: dict[str, list[tuple[int, int]]] | None = None,
    cached_rewrites: dict[str, str] | None = None,
) -> dict:
    """What the plugin needs to judge the candidate's behaviour: which files are the
    candidate's (the target's file, or every non-test file a patch changed) and which of
    their lines (`lines`, `Prepared.candidate_lines`: a file not there counts whole), the
    test files it must not read, the target to probe, and the cached rewrites of the test
    files it may take as their code (`Prepared.cached_rewrites`)."""
    if task.kind == "asserts":
        path, name = "solution.py", task.entry_point
    else:
        target = Target.parse(task.target)
        path, name = target.path, target.qualname
    tests = sorted({str(workspace / n.split("::", 1)[0]) for n in node_ids})
    return {
        "candidate_files": [str(workspace / p) for p in dict.fromkeys([path, *changed]) if p],
        "candidate_lines": {str(workspace / p): [list(s) for s in spans] for p, spans in (lines or {}).items()},
        "test_files": tests,
        "target_file": str(workspace / path) if path else "",
        "target_name": name,
        "trusted_bytecode": dict(cached_rewrites or {}),
    }
