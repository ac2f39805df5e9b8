"""The patch a search proposes: a node's code put in place of its target in the file as the
search saw it, as a unified diff (`code_patch`, `node_patch`), and whether that changes the
target's signature (`node_signature_change`). Used by `orps solve`/`apply` and the TUI's
review; the diff itself is `runners.code.patch`.

The splicing modules are imported on first use: the app imports this module early.
"""

from __future__ import annotations

from pathlib import Path

from runners.target import Target
from search.tree import ORIGINAL_ID, Node
from search.types import Task


def code_patch(target: str, project: Path, original_file: str, code: str) -> str:
    """The unified diff that puts `code` in place of `target` (`path::qualname`) in
    `original_file`, the file as the search saw it ('' when nothing changes). A target that
    is not in the file yet is added. Raises `runners.code.splice.SpliceError` when the code
    cannot take the target's place."""
    from runners.code.markers import strip_marker
    from runners.code.patch import make_patch
    from runners.code.splice import splice_or_add

    parsed = Target.parse(target)
    path, qualname = parsed.path, parsed.qualname
    # an `# orps:` marker on the target is done with once the proposal is in: the patch removes it
    new_text = strip_marker(splice_or_add(strip_marker(original_file, qualname), qualname, code), qualname)
    if new_text == original_file:
        return ""
    return make_patch(path, original_file, new_text, new_file=not (Path(project) / path).exists())


def node_patch(job_task: Task, original_file: str, node: Node | None) -> str:
    """The patch of `node`'s code ('' when nothing changes or the code does not fit)."""
    if node is None or not node.code.strip() or node.id == ORIGINAL_ID:
        return ""
    from runners.code.splice import SpliceError

    try:
        return code_patch(job_task.target, Path(job_task.project), original_file, node.code)
    except SpliceError:
        return ""


def node_signature_change(job_task: Task, original_file: str, node: Node | None) -> dict[str, str] | None:
    """`{"before": ..., "after": ...}` when `node`'s patch changes the target's signature
    (a real interface change: its parameters differ); None when it keeps the user's."""
    if node is None or not node.code.strip() or node.id == ORIGINAL_ID:
        return None
    from runners.code.splice import SpliceError, signature_change, splice_or_add

    qualname = Target.parse(job_task.target).qualname
    try:
        change = signature_change(original_file, splice_or_add(original_file, qualname, node.code), qualname)
    except SpliceError:
        return None
    return {"before": change[0], "after": change[1]} if change else None
