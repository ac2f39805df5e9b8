"""`orps check`: run a target's tests once in the sandbox, on the code as it is now."""

from __future__ import annotations

from pathlib import Path

from orps_tui.commands.solve import add_target_options


def add_parser(sub):
    p = sub.add_parser("check", help="run a target's tests once in the sandbox and report each",
                       description="Run the tests selected for a target (as solve would select them) once, "
                       "in the sandbox, on the project's current code. Exit 0 when all pass, 1 otherwise.")
    add_target_options(p)
    p.add_argument("--timeout", dest="timeout_s", type=float, default=10.0, help="seconds per test run")
    p.set_defaults(func=run)


def run(args) -> int:
    from orps_tui.commands.watch import check_once

    return check_once(Path(args.project).resolve(), args)
