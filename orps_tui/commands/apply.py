"""`orps apply`: apply a proposed patch to the project, checked and reversible.

    orps apply PATCH                      a unified diff file ('-' reads stdin)
    orps apply --run RUN-ID [--node ID]   a run's best patch, or one node's code
    orps apply ... --dry-run              check and show, write nothing
    orps apply --revert                   undo the last apply from its backup

Refuses (exit 1) without touching anything when the patch is already applied or the
file changed since the search saw it. Keeps the originals in `.orps/backups/`, so
`--revert` undoes the last apply. Exit 2 for bad input (no such file, run or node).
Refusals are this command's result, so they go to stdout with what was checked.
"""

from __future__ import annotations

import sys
from pathlib import Path

from orps_tui.errors import UserError
from search.terminal_text import printable


def add_parser(sub):
    p = sub.add_parser(
        "apply",
        help="apply a proposed patch (a file, or a run's best or chosen node)",
        description="Apply a patch to the project. Refuses when it is already applied or the "
        "file changed since; keeps a backup so --revert can undo it. "
        "Exit 0 applied, 1 refused, 2 bad input.",
    )
    p.add_argument("patch", nargs="?", help="a unified diff file (as written by orps solve --patch-out); - for stdin")
    p.add_argument("--run", help="apply the best patch of this run (id, unique prefix or 'latest')")
    p.add_argument("--node", help="with --run: apply this node's code instead of the best")
    p.add_argument(
        "--project",
        help="project root (default: the nearest directory upwards with a pyproject.toml, setup.cfg or setup.py, else the git root, else the current directory)",
    )
    p.add_argument("--dry-run", action="store_true", help="check and show what would change; write nothing")
    p.add_argument("--revert", action="store_true", help="undo the last apply from its backup")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the diff, only the summary")
    p.set_defaults(func=run)


def _read_patch(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    path = Path(arg)
    if not path.is_file():
        raise UserError(f"patch file {arg} does not exist")
    try:
        return path.read_bytes().decode("utf-8")  # bytes: a CRLF file's "\r" must survive
    except UnicodeDecodeError:
        raise UserError(f"patch file {arg} is not UTF-8 text") from None


def _changes(result) -> str:
    return "\n".join(
        f"  {c.path}: +{c.added} -{c.removed} lines" + (f" (found {c.offset} lines away)" if c.offset else "")
        for c in result.changes
    )


def run(args) -> int:
    from orps_tui.config import project_dir
    from runners.code.patch import PatchError, apply_patch, revert_last

    project = project_dir(args.project)
    if args.revert and (args.patch or args.run):
        raise UserError("--revert undoes the last apply; give it no patch or run")
    if args.node and not args.run:
        raise UserError("--node needs --run RUN-ID")
    try:
        if args.revert:
            if args.dry_run:
                raise UserError("--revert has no dry run; orps apply --revert restores the last backup")
            try:
                result = revert_last(project)
            except PatchError as err:
                print(f"orps: not reverted: {err}")
                return 1
            print(f"reverted the last apply; restored from {_rel(result.backup, project)}:")
            print(_changes(result))
            return 0
        if args.run:
            from orps_tui.solving import patch_from_run

            patch = patch_from_run(project, args.run, args.node)
        elif args.patch:
            patch = _read_patch(args.patch)
        else:
            raise UserError("give a patch file or --run RUN-ID", hint="orps runs lists past runs")
        result = apply_patch(project, patch, dry_run=args.dry_run)
    except PatchError as err:
        if err.kind == "invalid":
            raise UserError(str(err)) from None
        print(f"orps: not applied: {err}")
        return 1
    if not args.quiet:
        shown = printable(patch)  # a candidate's code: no escape sequence reaches the terminal
        print(shown, end="" if shown.endswith("\n") else "\n")
    if result.dry_run:
        print(f"would change {len(result.files)} file(s) (dry run: nothing written):")
        print(_changes(result))
        return 0
    print(f"applied; changed {len(result.files)} file(s):")
    print(_changes(result))
    print(f"originals saved in {_rel(result.backup, project)} (undo: orps apply --revert)")
    return 0


def _rel(path: str, project: Path) -> str:
    try:
        return str(Path(path).relative_to(project))
    except ValueError:
        return path
