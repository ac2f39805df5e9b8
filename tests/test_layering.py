"""The part of the layering rule that import-linter cannot express: no package (and no
benchmark) reaches into another package's private (`_name`) modules or names, and
benchmarks never import from the test suite. The package contracts themselves are
`[tool.importlinter]` in pyproject.toml, checked by `lint-imports` in CI."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "runners", "orps_tui")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(path: Path):
    """(line, imported module, imported names) for every absolute import in `path`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [a.name for a in node.names]


def private_reaches(files, owner_of) -> list[str]:
    found = []
    for path in files:
        owner = owner_of(path)
        for line, module, names in _imports(path):
            root = module.split(".")[0]
            if root not in PACKAGES or root == owner:
                continue
            where = f"{path.relative_to(REPO)}:{line}"
            found += [f"{where}: private module {module}" for part in module.split(".") if _private(part)]
            found += [f"{where}: private name {module}.{name}" for name in names if _private(name)]
    return found


def test_no_package_imports_another_packages_private_modules_or_names():
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    assert private_reaches(files, lambda p: p.relative_to(REPO).parts[0]) == []


def test_benchmarks_use_public_names_and_never_import_the_tests():
    files = sorted((REPO / "benchmarks").glob("*.py"))
    assert private_reaches(files, lambda p: None) == []
    for path in files:
        assert not [m for _, m, _ in _imports(path) if m.split(".")[0] == "tests"], path.name


def test_the_check_itself_finds_a_private_reach(tmp_path):
    sample = REPO / "tests" / "_layering_sample.py"
    sample.write_text(
        "from search.gateway import _litellm\nimport runners.sandbox._launch\nfrom search import __version__\n"
    )
    try:
        found = private_reaches([sample], lambda p: "orps_tui")
    finally:
        sample.unlink()
    assert (
        len(found) == 2 and "private name search.gateway._litellm" in found[0] and "runners.sandbox._launch" in found[1]
    )


LONG_MODULE = 450
"""Lines beyond which a module must say at its top why it is one module (about 400 lines is
the size a newcomer reads in one sitting; formatting alone moves a module by a few dozen)."""


def test_a_long_module_says_why_it_is_kept_whole():
    unexplained = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "example" in path.relative_to(REPO).parts:
                continue
            text = path.read_text()
            if text.count("\n") <= LONG_MODULE:
                continue
            top = "\n".join(text.splitlines()[:15]).lower()
            if "over 400 lines" not in top and "kept whole because" not in top:
                unexplained.append(f"{path.relative_to(REPO)}: {text.count(chr(10))} lines")
    assert not unexplained, (
        "split these modules at a natural seam, or say at their top why they are kept whole "
        "('Kept whole because ...' or '# Over 400 lines: ...'): " + ", ".join(unexplained)
    )
