"""Whether a run's proposal is in the project now, read from the files.

A proposal is applied when the file holds its result: the patch would apply in reverse
(`runners.code.patch` calls that "already applied"). Nothing is remembered, so `orps apply
--revert`, a manual undo or `git checkout` are seen at once, by the TUI, `orps runs` and
`orps runs --json` alike.
"""

from __future__ import annotations

from pathlib import Path

from search.store import RunDir


def is_applied(project: Path, patch: str) -> bool:
    """The files of `project` hold `patch`'s result."""
    from runners.code.patch import PatchError, check_patch

    if not patch:
        return False
    try:
        check_patch(project, patch)
    except PatchError as err:
        return err.kind == "applied"
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return False


def run_patches(project: Path, run: RunDir) -> list[str]:
    """The patches of `run` that may be in the files: the node applied from the TUI (it may
    be another node than the best) and the run's proposal."""
    from orps_tui.errors import UserError
    from orps_tui.solving import patch_from_run

    patches = []
    node = run.meta().get("applied")
    if isinstance(node, str) and node:
        try:
            patches.append(patch_from_run(project, run.id, node))
        except (UserError, OSError, ValueError):
            pass
    proposal = (run.read("result.json") or {}).get("patch")
    if isinstance(proposal, str) and proposal and proposal not in patches:
        patches.append(proposal)
    return patches


def run_applied(project: Path, run: RunDir) -> bool:
    """One of `run`'s patches is in the project's files now."""
    return any(is_applied(project, patch) for patch in run_patches(project, run))


def with_applied(project: Path, rows: list[dict]) -> list[dict]:
    """`orps runs` rows (search.store.run_rows) with `applied` read from the files."""
    from search.store import list_runs

    runs = {run.id: run for run in list_runs(project)}
    return [{**row, "applied": row["id"] in runs and run_applied(project, runs[row["id"]])} for row in rows]
