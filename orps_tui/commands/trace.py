"""`orps trace`: record the calls a command makes to a function, as inputs for --goal faster.

    orps trace --target src/pkg/mod.py::func -- python scripts/workload.py --size 1000

The command runs in the sandbox, in a copy of the project (it never writes the project),
with the target wrapped when its module is imported: each distinct call's arguments are
saved in `.orps/traces/`. `orps solve --goal faster` and `orps check --same-as-original`
then replay them like the tests' own calls: the original is run on them, and a candidate
must answer them the same way. Exit 0 when calls were saved, 1 when the command made none
(or the target's module was never imported), 2 for bad input.
"""

from __future__ import annotations

import asyncio

from orps_tui.errors import UserError
from search.terminal_text import printable


def add_parser(sub):
    p = sub.add_parser(
        "trace",
        help="record the calls a command makes to a function (inputs for --goal faster)",
        description="Run COMMAND in the sandbox and save every distinct call it makes to the "
        "target, for --goal faster and check --same-as-original to replay.",
    )
    p.add_argument("--target", required=True, help="the function: path/to/file.py::name")
    p.add_argument("--project", help="project root (default: found from the current directory)")
    p.add_argument(
        "--timeout", dest="timeout_s", type=float, default=60.0, help="seconds the command may run (default 60)"
    )
    p.add_argument("command", nargs="+", metavar="-- COMMAND", help="the command to run, after --")
    p.set_defaults(func=run)


def run(args) -> int:
    from orps_tui.config import project_dir
    from orps_tui.taskbuild import build_task
    from runners.speed.trace import save, trace_command
    from runners.testing.evaluator import SandboxEvaluator

    project = project_dir(args.project)
    command = [c for c in args.command]
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UserError("no command to run", hint="orps trace --target FILE::NAME -- python your_script.py")
    if args.timeout_s <= 0:
        raise UserError(f"--timeout {args.timeout_s}: must be positive")
    task, _ = build_task(project, args.target, goal="faster", problem_required=False)

    async def go():
        async with SandboxEvaluator() as evaluator:
            return await trace_command(evaluator, task, command, args.timeout_s)

    got = asyncio.run(go())
    shown = " ".join(command)
    ended = "the time limit" if got["timed_out"] else f"exit {got['returncode']}"
    if got["output"].strip():
        print(printable("  " + "\n  ".join(got["output"].strip().splitlines()[-10:])))
    if got["error"]:
        print(printable(f"trace: {got['error']}"))
    if not got["calls"]:
        why = (
            "the command never imported the target's module" if not got["installed"] else "the command never called it"
        )
        print(printable(f"no calls to {args.target} while `{shown}` ran ({ended}): {why}"))
        return 1
    path, total = save(project, args.target, got["replayable"], command)
    left = len(got["calls"]) - len(got["replayable"])
    note = f"; {left} with an argument that is not a builtin value (not replayable, not saved)" if left else ""
    print(
        printable(f"traced {len(got['calls'])} distinct call(s) to {args.target} while `{shown}` ran ({ended}){note}")
    )
    print(
        f"saved in {path.relative_to(project)} ({total} input(s) in all); "
        "--goal faster and check --same-as-original replay them"
    )
    return 0
