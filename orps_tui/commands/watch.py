"""`orps watch`: re-run a target's tests in the sandbox whenever it or its tests change.

Also says when the newest proposal for the target no longer applies (its file changed).
Ctrl+C exits cleanly.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import sys
import time
from pathlib import Path

from orps_tui.commands.solve import add_target_options
from orps_tui.errors import UserError


def add_parser(sub):
    p = sub.add_parser("watch", help="re-run a target's tests in the sandbox on every change",
                       description="Watch the target's file and its tests; on each change re-run the tests "
                       "in the sandbox and report, and flag a pending proposal that no longer applies.")
    add_target_options(p)
    p.add_argument("--timeout", dest="timeout_s", type=float, default=10.0, help="seconds per test run")
    p.add_argument("--once", action="store_true", help="check once and exit (no watching)")
    p.set_defaults(func=run)


def proposal_state(project: Path, target: str) -> str | None:
    """'pending' or 'stale' for the newest run of `target` with a patch, None without one."""
    from runners.patch import PatchError, check_patch
    from search.store import list_runs

    for run in list_runs(project):
        if run.meta().get("target") != target:
            continue
        patch = (run.read("result.json") or {}).get("patch")
        if not patch:
            continue
        try:
            check_patch(project, patch)
            return f"pending (run {run.id}: orps apply --run {run.id})"
        except PatchError as err:
            return "applied" if err.kind == "applied" else f"stale (run {run.id}: its file changed since)"
    return None


def check_once(project: Path, args) -> int:
    from orps_tui.taskbuild import build_task
    from runners.evaluator import SandboxEvaluator

    task, _ = build_task(project, args.target, tests=args.tests, k=args.k, problem_file=args.problem_file,
                         problem_text=args.problem_text or "(watch)", problem_mode=args.problem_mode)
    ev = asyncio.run(SandboxEvaluator(timeout_s=args.timeout_s).evaluate(task, task.original_code))
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {task.target}: {ev.verdict}, {ev.passed}/{ev.total} tests pass", flush=True)
    for t in ev.tests:
        if t.outcome != "passed":
            lines = t.message.strip().splitlines() or [""]
            first = next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1])
            print(f"    {t.outcome:<7} {t.id}  {first[:100]}", flush=True)
    if ev.message:
        print(f"    {ev.message.splitlines()[0]}", flush=True)
    state = proposal_state(project, task.target)
    if state:
        print(f"    proposal: {state}", flush=True)
    return 0 if ev.all_passed else 1


def run(args) -> int:
    from orps_tui.taskbuild import build_task
    from runners.watch import FileWatcher

    project = Path(args.project).resolve()
    code = check_once(project, args)
    if args.once:
        return code
    task, _ = build_task(project, args.target, tests=args.tests, k=args.k, problem_text="(watch)")
    files = {project / task.target.split("::")[0]} | {project / t.split("::")[0] for t in task.tests}
    changes: queue.Queue = queue.Queue()
    watcher = FileWatcher(sorted(files), changes.put).start()
    print(f"watching {len(files)} files; Ctrl+C to stop", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: changes.put(None))
    try:
        while True:
            changed = changes.get()
            if changed is None:
                break
            names = ", ".join(sorted(str(p.relative_to(project)) for p in changed))
            print(f"changed: {names}", flush=True)
            try:
                check_once(project, args)
            except UserError as err:
                print(f"orps: {err.message}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    print("stopped watching", file=sys.stderr)
    return 0
