"""Edits made in the TUI's editor, kept per function until applied or discarded.

One JSON file per target under the project's state directory (`.orps/edits/`), so an edit
outlives the app and the run it was made in: a later review of the same function lists it
again, the start screen marks the function as edited, and a new edit gets the next number
(`edit-3` after `edit-2`) instead of replacing an earlier one. Writes hold an exclusive
lock on the file and replace it atomically, so two apps open on one project never lose
each other's edits.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runners.target import Target
from search.store import state_dir, user_state_dir
from search.tree import Node, SearchTree
from search.types import Task

EDIT_PREFIX = "edit-"


def edits_dir(project: Path) -> Path:
    """Where edits are written (`.orps/edits`, or the per-user state directory of a
    read-only project): created on the first edit kept."""
    return state_dir(project) / "edits"


def _existing_dirs(project: Path) -> list[Path]:
    """Where edits may have been kept, without creating anything: reading never touches
    the project."""
    return [d for d in (Path(project) / ".orps" / "edits", user_state_dir(project) / "edits") if d.is_dir()]


def _name(target: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", target)[-80:]
    return f"{slug}-{hashlib.sha256(target.encode()).hexdigest()[:10]}.json"


def _file(project: Path, target: str) -> Path:
    """The target's record: where it already is, else where a new one goes."""
    for directory in _existing_dirs(project):
        if (directory / _name(target)).exists():
            return directory / _name(target)
    return edits_dir(project) / _name(target)


def _kept_file(project: Path, target: str) -> Path | None:
    for directory in _existing_dirs(project):
        if (directory / _name(target)).exists():
            return directory / _name(target)
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"edits": [], "last": 0}
    return data if isinstance(data, dict) else {"edits": [], "last": 0}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    """The target's record, read under an exclusive lock and written back on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _read(path)
        yield data
        fd, tmp = tempfile.mkstemp(prefix=".edits.", dir=path.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1)
        os.replace(tmp, path)


def edit_number(node_id: str) -> int:
    """N of `edit-N` (0 for any other id)."""
    tail = node_id[len(EDIT_PREFIX) :] if node_id.startswith(EDIT_PREFIX) else ""
    return int(tail) if tail.isdigit() else 0


def kept_edits(project: Path, target: str) -> list[Node]:
    """The edits kept for `target`, oldest first, as nodes (with the verdict they had when saved)."""
    path = _kept_file(project, target)
    out = []
    for entry in _read(path).get("edits", []) if path else []:
        try:
            out.append(Node.from_dict(entry["node"]))
        except (KeyError, TypeError, ValueError):
            continue  # a damaged entry is skipped, never fatal
    return out


def reserve_edit_id(project: Path, target: str, tree: SearchTree) -> str:
    """The id of a new edit of `target`: after every edit kept for it (from any run of the
    app) and every edit in this run's tree, so none is overwritten."""
    with _locked(_file(project, target)) as data:
        used = [
            data.get("last", 0),
            *(edit_number(e.get("node", {}).get("id", "")) for e in data["edits"]),
            *(edit_number(n.id) for n in tree),
        ]
        data["last"] = max(used) + 1
        data["target"] = target
        return f"{EDIT_PREFIX}{data['last']}"


def keep_edit(project: Path, target: str, node: Node, run_id: str) -> None:
    """Keep `node` (an edit, checked) for `target` until it is applied or discarded."""
    with _locked(_file(project, target)) as data:
        data["target"] = target
        data["edits"] = [e for e in data["edits"] if e.get("node", {}).get("id") != node.id]
        data["edits"].append({"node": node.to_dict(), "run": run_id, "saved": time.strftime("%Y-%m-%d %H:%M:%S")})
        data["last"] = max(data.get("last", 0), edit_number(node.id))


def drop_edit(project: Path, target: str, edit_id: str) -> bool:
    """Stop keeping edit `edit_id` of `target` (applied or discarded); False if it was not kept."""
    path = _kept_file(project, target)
    if path is None:
        return False
    with _locked(path) as data:
        before = len(data["edits"])
        data["edits"] = [e for e in data["edits"] if e.get("node", {}).get("id") != edit_id]
        return len(data["edits"]) < before


def edited_targets(project: Path) -> dict[str, int]:
    """Target -> how many edits are kept for it (for the start screen's marks)."""
    out: dict[str, int] = {}
    files = []
    for directory in _existing_dirs(project):
        with contextlib.suppress(OSError):
            files += sorted(directory.glob("*.json"))
    for path in files:
        data = _read(path)
        if data.get("target") and data.get("edits"):
            out[data["target"]] = len(data["edits"])
    return out


def _definition(code: str, qualname: str):
    """The ast of `qualname`'s definition in `code` (a method may stand alone, as the
    editor shows it), or None."""
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    *outer, name = qualname.split(".")
    scopes = [tree.body]
    for part in outer:  # into the class, when the code has it
        inner = [n.body for body in scopes for n in body if isinstance(n, ast.ClassDef) and n.name == part]
        scopes = inner or scopes
    return next(
        (
            n
            for body in scopes
            for n in body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
        ),
        None,
    )


def _header(func) -> tuple | None:
    """What the def line says (async, name, parameters with annotations and defaults, return
    annotation), spacing and comments aside."""
    import ast

    return (
        None
        if func is None
        else (
            isinstance(func, ast.AsyncFunctionDef),
            func.name,
            ast.dump(func.args),
            ast.dump(func.returns) if func.returns else None,
        )
    )


def _header_text(func) -> str:
    import ast

    args = ast.unparse(func.args)
    returns = f" -> {ast.unparse(func.returns)}" if func.returns else ""
    return f"{'async ' if isinstance(func, ast.AsyncFunctionDef) else ''}def {func.name}({args}){returns}:"


def edit_refusal(task: Task, original_file: str, node: Node, code: str) -> tuple[int, str] | None:
    """Why an edit of `node`'s code cannot be kept as written, with the line to put the
    cursor on (1-based); None when it can. The `def` line is the user's to change: a
    change of parameters lands as is (an interface change, shown as such), but one that
    keeps the parameters (annotations, default values) would be put back to the user's
    signature by the splice, and a renamed function is no longer the target. Both are
    refused here with the reason, never dropped without a word."""
    from runners.code.splice import SpliceError, splice_or_add

    qualname = Target.qualname_of(task.target, default=task.entry_point)
    name = qualname.rsplit(".", 1)[-1]
    line = next(
        (
            i
            for i, text in enumerate(code.splitlines(), 1)
            if re.match(rf"\s*(async\s+)?def\s+{re.escape(name)}\b", text)
        ),
        1,
    )
    try:
        spliced = splice_or_add(original_file, qualname, code)
    except SpliceError as err:
        why = str(err).replace("the candidate", "your edit")
        return line, f"Not kept: {why}. The function must keep its name {name} (the tests call it by it)."
    edited_def = _definition(code, qualname)
    edited, before = _header(edited_def), _header(_definition(node.code, qualname))
    if edited is None or edited == before:
        return None  # the def line was not touched
    landed_def = _definition(spliced, qualname)
    if landed_def is not None and _header(landed_def) != edited:
        return line, (
            f"Not kept: your change to the def line ({_header_text(edited_def)}) would not reach the "
            f"file. With the same parameters orps keeps your signature as it is "
            f"({_header_text(landed_def)}): change the body, change the parameters, or edit the file "
            "in your own editor."
        )
    return None
