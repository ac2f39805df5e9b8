"""The start screen's list of the project's functions: finding them (a file Python cannot
parse too), fitting a target to a column, the fuzzy filter, and the check marks."""

from __future__ import annotations

import re
from pathlib import Path

from rich.text import Text

from runners.target import Target

SYNTAX_MARK = "\x00syntax\x00"
"""Starts the description of a function whose file Python cannot parse (then the error)."""

_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?P<kind>def|class)[ \t]+(?P<name>\w+)", re.M)


def defined_names(text: str) -> list[str]:
    """Qualified names of the functions in `text`, read from the lines alone (`def f`,
    `class C:` then an indented `def m` is `C.m`): what a file Python cannot parse still
    shows of itself, where tree-sitter may drop the broken definition."""
    names: list[str] = []
    outer: list[tuple[int, str, str]] = []  # (indent, kind, name) of the enclosing definitions
    for m in _DEF.finditer(text):
        indent = len(m["indent"].expandtabs(4))
        outer = [o for o in outer if o[0] < indent]
        inside_def = any(kind == "def" for _, kind, _ in outer)  # a nested function is no target
        if m["kind"] == "def" and not inside_def:
            names.append(".".join([name for _, _, name in outer] + [m["name"]]))
        outer.append((indent, m["kind"], m["name"]))
    return names


def syntax_error_of(path: Path, rel: str) -> str | None:
    """`rel:LINE: syntax error: message` when Python cannot parse the file, else None."""
    import ast

    try:
        ast.parse(path.read_bytes(), filename=rel)
    except SyntaxError as err:
        return f"{rel}:{err.lineno}: syntax error: {err.msg}"
    except (ValueError, OSError):
        return None
    return None


def project_functions(project: Path) -> list[tuple[str, str]]:
    """(target, first docstring line) for every function outside the tests. The functions
    of a file Python cannot parse stay listed (tree-sitter's and those its lines show),
    described by SYNTAX_MARK and the error, with the file and line."""
    from runners.code.locate import list_functions
    from runners.project.files import ProjectFiles

    out = []
    files = ProjectFiles(project).walk().files  # the one ignore list (.gitignore, venvs, [tool.orps] exclude)
    for rel in sorted(Path(f) for f in files if f.endswith(".py")):
        path = project / rel
        if rel.parts[0] in ("tests", "test") or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        try:
            found = [(qualname, doc) for qualname, _line, doc in list_functions(path)]
            error = syntax_error_of(path, rel.as_posix())
            if error:
                seen = {q for q, _ in found}
                text = path.read_bytes().decode("utf-8", errors="replace")
                found += [(q, "") for q in defined_names(text) if q not in seen]
                found = [(q, SYNTAX_MARK + error) for q, _ in found]
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        out += [(str(Target(rel.as_posix(), q)), doc) for q, doc in found if not q.rsplit(".", 1)[-1].startswith("__")]
    return out


def fit_target(target: str, width: int) -> str:
    """`target` in `width` columns, shortened where targets share the most: the directories
    (`…/words.py::slugify`), then the start of the file name, never the function's name at
    the end, which is what tells two functions of a module apart."""
    if width <= 0 or len(target) <= width:
        return target
    path = Target.path_of(target)
    tail = target[len(path) :]  # `::name`, kept whole
    room = width - len(tail) - 1  # 1 for the ellipsis
    if room >= 1:
        cut = path[-room:]
        if "/" in cut:  # from a directory boundary: …/words.py
            cut = cut[cut.index("/") :]
        return "…" + cut + tail
    return "…" + target[-(width - 1) :]


def fuzzy_match(query: str, text: str) -> bool:
    """Every character of the query appears in order (like fzf, without scoring)."""
    it = iter(text.lower())
    return all(ch in it for ch in query.lower().replace(" ", ""))


def check_mark(result: tuple[int, int] | None) -> Text:
    """✗ 1/3 for failing tests, ✓ 3/3 for passing, · for not checked yet."""
    if result is None:
        return Text("  ·  ", style="dim")
    passed, total = result
    if total == 0:
        return Text("  -  ", style="dim")
    ok = passed == total
    return Text(f"{'✓' if ok else '✗'}{passed}/{total}".ljust(5), style="green" if ok else "bold red")
