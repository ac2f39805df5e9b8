"""`orps apply`: apply a proposed patch to the project, checked and reversible.

Refuses (exit 1) without touching anything when the patch is already applied or the
file changed since the search saw it. Keeps the originals in `.orps/backups/`, so
`orps apply --revert` undoes the last apply.
"""

from __future__ import annotations

from pathlib import Path

from orps_tui.errors import UserError


def add_parser(sub):
    p = sub.add_parser("apply", help="apply a proposed patch (a file, or a run's best or chosen node)",
                       description="Apply a patch to the project. Refuses when it is already applied or the "
                       "file changed since; keeps a backup so --revert can undo it.")
    p.add_argument("patch", nargs="?", help="a unified diff file (as written by orps solve --patch-out)")
    p.add_argument("--run", help="apply the best node of this run (id, prefix or 'latest')")
    p.add_argument("--node", help="with --run: apply this node instead of the best")
    p.add_argument("--project", default=".", help="project root (default: current directory)")
    p.add_argument("--dry-run", action="store_true", help="check and show what would change; write nothing")
    p.add_argument("--revert", action="store_true", help="undo the last apply from its backup")
    p.set_defaults(func=run)


def patch_from_run(project: Path, run_id: str, node_id: str | None) -> str:
    from orps_tui.solving import node_patch
    from search.store import find_run
    from search.tree import SearchTree
    from search.types import Task

    found = find_run(project, run_id)
    if found is None:
        raise UserError(f"no run {run_id!r} in {project / '.orps' / 'runs'}", hint="orps runs lists them")
    if node_id is None:
        patch = (found.read("result.json") or {}).get("patch", "")
        if not patch:
            raise UserError(f"run {found.id} has no patch to apply (unsolved, or still running)")
        return patch
    tree = SearchTree.from_dict(found.read("tree.json") or {})
    node = tree.get(node_id)
    if node is None:
        raise UserError(f"run {found.id} has no node {node_id!r}", hint=f"nodes: {', '.join(list(tree.nodes)[:12])}")
    original = found.file("original_file.txt")
    patch = node_patch(Task.from_dict(found.read("task.json")), original.read_text() if original.exists() else "", node)
    if not patch:
        raise UserError(f"node {node_id} changes nothing (or its code cannot be put in place)")
    return patch


def run(args) -> int:
    from runners.patch import PatchError, apply_patch, check_patch, revert_last

    project = Path(args.project).resolve()
    try:
        if args.revert:
            result = revert_last(project)
            print(f"reverted {', '.join(result.files)} from {result.backup}")
            return 0
        if args.run:
            patch = patch_from_run(project, args.run, args.node)
        elif args.patch:
            path = Path(args.patch)
            if not path.is_file():
                raise UserError(f"patch file {args.patch} does not exist")
            patch = path.read_text()
        else:
            raise UserError("give a patch file or --run RUN-ID", hint="orps runs lists past runs")
        if args.dry_run:
            files = check_patch(project, patch)
            print(patch, end="" if patch.endswith("\n") else "\n")
            print(f"would change {', '.join(sorted(files))} (dry run: nothing written)")
            return 0
        result = apply_patch(project, patch)
    except PatchError as err:
        print(f"orps: {err}")
        return 1 if err.kind in ("stale", "applied") else 2
    print(patch, end="" if patch.endswith("\n") else "\n")
    print(f"applied to {', '.join(result.files)}: +{result.added} -{result.removed} lines; "
          f"originals saved in {Path(result.backup).relative_to(project)} (undo: orps apply --revert)")
    return 0
