"""`orps watch`: re-run a target's tests in the sandbox whenever it or its tests change.

Each burst of edits (debounced by `runners.watch.FileWatcher`) re-runs the same check as
`orps check` and prints the result; when the newest proposal for the target no longer
applies (its file changed since the search), it says the proposal is stale. Ctrl+C (or
SIGTERM) stops cleanly. Nothing in the project is written.
"""

from __future__ import annotations

import queue
import signal
import sys
import time
from pathlib import Path

from orps_tui.errors import UserError


def add_parser(sub):
    from orps_tui.commands.solve import add_target_options

    p = sub.add_parser("watch", help="re-run a target's tests in the sandbox on every change",
                       description="Watch the target's file and its tests; on each change re-run the tests "
                       "in the sandbox and report, and flag a pending proposal that no longer applies.")
    add_target_options(p, required=False)
    p.add_argument("--timeout", dest="timeout_s", type=float, help="seconds per test run (default: settings)")
    p.add_argument("--memory", dest="memory_mb", type=int, help="memory limit in MB (default: settings)")
    p.add_argument("--debounce", type=float, default=0.3, help="seconds of quiet before re-running (default 0.3)")
    p.add_argument("--once", action="store_true", help="check once and exit (no watching)")
    p.set_defaults(func=run)


def proposal_state(project: Path, target: str) -> str | None:
    """'pending ...', 'applied' or 'stale ...' for the newest run of `target` that has a
    patch; None when there is none."""
    from runners.patch import PatchError, check_patch
    from search.store import list_runs

    for found in list_runs(project):
        task = found.read("task.json") or {}
        if (found.meta().get("target") or task.get("target")) != target:
            continue
        patch = (found.read("result.json") or {}).get("patch")
        if not patch:
            continue
        try:
            check_patch(project, patch)
        except PatchError as err:
            if err.kind == "applied":
                return f"applied (run {found.id})"
            return f"stale (run {found.id}): its file changed since the search; re-run orps solve"
        return f"pending (run {found.id}): orps apply --run {found.id}"
    return None


def check_once(project: Path, args) -> int:
    """One sandboxed run of the target's tests, printed with a timestamp; 0 when all pass."""
    from orps_tui.commands.check import evaluate_current, report_lines, resolve

    _, config, task = resolve(args)
    ev = evaluate_current(task, config)
    print(f"[{time.strftime('%H:%M:%S')}]", flush=True)
    print("\n".join(report_lines(task, ev)), flush=True)
    state = proposal_state(project, task.target)
    if state:
        print(f"  proposal: {state}", flush=True)
    return 0 if ev.all_passed else 1


def watched_files(project: Path, task) -> list[Path]:
    """The target's file and every file holding one of its tests."""
    files = {project / task.target.split("::")[0]}
    files |= {project / t.split("::")[0] for t in task.tests if (project / t.split("::")[0]).is_file()}
    return sorted(files)


def run(args) -> int:
    from orps_tui.commands.check import resolve
    from runners.watch import FileWatcher

    project, _, task = resolve(args)  # bad input fails here, before any watching
    code = check_once(project, args)
    if args.once:
        return code
    changes: queue.Queue = queue.Queue()
    files = watched_files(project, task)
    watcher = FileWatcher(files, changes.put, debounce_s=args.debounce).start()
    print(f"watching {', '.join(str(p.relative_to(project)) for p in files)}; Ctrl+C to stop",
          file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: changes.put(None))
    try:
        while True:
            changed = changes.get()
            if changed is None:
                break
            names = ", ".join(sorted(str(p.relative_to(project)) for p in changed))
            print(f"changed: {names}", flush=True)
            try:
                check_once(project, args)
            except UserError as err:  # e.g. the function was renamed mid-edit: say so, keep watching
                print(f"orps: {err.message}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        signal.signal(signal.SIGTERM, previous)
    print("stopped watching", file=sys.stderr, flush=True)
    return 0
