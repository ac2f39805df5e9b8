"""`orps watch`: with no target, watch the project for `# orps: <request>` marker comments
and search for what each asks; with a target, re-run its tests in the sandbox whenever it
or its tests change.

Marker mode: a saved marker above a function (or as the first line of its body) starts a
search on that function with the request added to the problem (speed words select
`--goal faster`); the result, the command to review and the command to apply print here.
Several markers run at once up to `--jobs`; changing or removing a marker cancels its
search (saving a changed one restarts it). Watch never writes the user's files.

Each burst of edits (debounced by `runners.code.watch.FileWatcher`) re-runs the same check as
`orps check` and prints the result; when the newest proposal for the target no longer
applies (its file changed since the search), it says the proposal is stale. Ctrl+C (or
SIGTERM) stops cleanly. Nothing in the project is written.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import sys
import time
from pathlib import Path

from orps_tui.errors import UserError
from orps_tui.words import evaluated
from runners.target import Target
from search.terminal_text import printable
from search.tree import node_name


def add_parser(sub):
    from orps_tui.commands.options import add_search_options, add_target_options

    p = sub.add_parser(
        "watch",
        help="re-run a target's tests in the sandbox on every change",
        description="Watch the target's file and its tests; on each change re-run the tests "
        "in the sandbox and report, and flag a pending proposal that no longer applies.",
    )
    add_target_options(p, required=False, positional=True)
    p.add_argument("--debounce", type=float, default=0.3, help="seconds of quiet before re-running (default 0.3)")
    p.add_argument("--once", action="store_true", help="check once and exit (no watching)")
    p.add_argument("--jobs", type=int, default=2, help="marker mode: searches at once (default 2)")
    # the same settings as `orps solve` (one declaration): with --target only --timeout and
    # --memory apply; in marker mode each search gets them all (a marker's own goal wins)
    add_search_options(p, title="search (--timeout and --memory apply to every test run; the rest to marker mode)")
    p.set_defaults(func=run)


def proposal_state(project: Path, target: str) -> str | None:
    """'pending ...', 'applied' or 'stale ...' for the newest run of `target` that has a
    patch; None when there is none."""
    from runners.code.patch import PatchError, check_patch
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


def run(args) -> int:
    from orps_tui.commands.check import resolve
    from orps_tui.taskbuild import watched_files
    from runners.code.watch import FileWatcher

    if not args.target:
        return watch_markers(args)

    project, _, task = resolve(args)  # bad input fails here, before any watching
    code = check_once(project, args)
    if args.once:
        return code
    changes: queue.Queue = queue.Queue()
    files = watched_files(project, task)
    watcher = FileWatcher(files, changes.put, debounce_s=args.debounce).start()
    print(
        f"watching {', '.join(str(p.relative_to(project)) for p in files)}; Ctrl+C to stop", file=sys.stderr, flush=True
    )
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


# ---------------------------------------------------------------- marker mode


def _say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


class MarkerWatch:
    """The markers of the project, their searches, and what each search printed."""

    def __init__(self, project: Path, args):
        from orps_tui.commands.options import cli_overrides
        from runners.project.files import ProjectFiles

        self.project, self.args = project, args
        self.overrides = cli_overrides(args)
        self.files = ProjectFiles(project)
        self.known: dict[str, dict[str, str]] = {}
        """file -> {function: request} as last seen."""
        self.running: dict[tuple[str, str], asyncio.Task] = {}
        self.slots = asyncio.Semaphore(max(1, args.jobs))

    def skip(self, rel: str) -> bool:
        """Ignored (.gitignore, venvs, .orps/, [tool.orps] exclude) or not a project file."""
        parts = rel.split("/")
        return any(self.files.ignored("/".join(parts[: i + 1]), is_dir=i < len(parts) - 1) for i in range(len(parts)))

    def markers_in(self, rel: str) -> dict[str, str]:
        from runners.code.markers import find_markers

        try:
            text = (self.project / rel).read_text()
        except (OSError, UnicodeDecodeError):
            return {}
        return {m.qualname: m.request for m in find_markers(text)}

    def scan(self) -> int:
        for rel in self.files.walk().files:
            if rel.endswith(".py") and not self.skip(rel):
                found = self.markers_in(rel)
                if found:
                    self.known[rel] = found
        return sum(len(v) for v in self.known.values())

    def changed(self, rel: str) -> None:
        """A saved file: start, restart or cancel the searches of its markers."""
        before, now = self.known.get(rel, {}), self.markers_in(rel)
        self.known[rel] = now
        for qualname in sorted(set(before) | set(now)):
            if before.get(qualname) == now.get(qualname):
                continue
            key = (rel, qualname)
            task = self.running.pop(key, None)
            if task is not None and not task.done():
                task.cancel()
                _say(
                    f"{Target(rel, qualname)}: marker {'changed' if qualname in now else 'removed'}; its search is cancelled"
                )
            if qualname in now:
                self.running[key] = asyncio.create_task(self.search(rel, qualname, now[qualname]))

    async def search(self, rel: str, qualname: str, request: str) -> None:
        from runners.code.markers import FASTER_WORDS
        from search.events import EventBus
        from search.gateway import ModelError

        target = str(Target(rel, qualname))
        goal = "faster" if FASTER_WORDS.search(request) else "fix"
        async with self.slots:
            _say(f'{target}: marker "{request}" -> searching (goal {goal})')
            from orps_tui.result_doc import finish_result
            from orps_tui.solving import SolveRequest, prepare_job

            solve = SolveRequest(target=target, problem_text=request, settings={**self.overrides, "goal": goal})
            try:
                job = await asyncio.to_thread(prepare_job, self.project, solve)
            except UserError as err:
                _say(f"{target}: {err.message}; no search" + (f" ({err.hint})" if err.hint else ""))
                return
            _say(
                f"{target}: {len(job.task.tests)} tests: {', '.join(job.task.tests[:4])}"
                + (" ..." if len(job.task.tests) > 4 else "")
            )
            bus = EventBus()
            bus.subscribe(lambda event: self._progress(target, event))
            try:
                result = await job.execute(bus)
            except ModelError as err:
                _say(f"{target}: model error: {err.message}")
                return
            finally:
                close = getattr(job.evaluator, "close", None)
                if close:
                    close()
            if result.status == "cancelled":
                _say(f"{target}: search cancelled (run {job.run.id} keeps what it found)")
                return
            doc = finish_result(job, result)
            best = doc.get("best") or {}
            _say(
                f"{target}: {doc['status']}, best {best.get('node_id', '-')} passes "
                f"{best.get('passed', 0)}/{best.get('total', 0)} tests (run {doc['run_id']})"
            )
            if doc.get("patch"):
                patch = printable(doc["patch"])  # a candidate's code: no escape sequence reaches the terminal
                print(patch, end="" if patch.endswith("\n") else "\n", flush=True)
                _say(f"{target}: review: orps --run {doc['run_id']}  (or orps, then ctrl+r history)")
                _say(f"{target}: apply:  orps apply --run {doc['run_id']}")
            else:
                _say(f"{target}: no change to propose")

    @staticmethod
    def _progress(target: str, event) -> None:
        d = event.data
        if event.kind == "node_evaluated":
            _say(printable(f"{target}:   node {node_name(d['node']):<8} {evaluated(d)}"))


def watch_markers(args) -> int:
    """Marker mode: runs until Ctrl+C (or SIGTERM), then stops cleanly with exit 0."""
    from orps_tui.config import find_project_root
    from runners.code.watch import ProjectWatcher

    given = Path(args.project) if args.project else Path.cwd()
    if not given.is_dir():
        raise UserError(f"project directory {given} does not exist")
    project = find_project_root(given)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        watch = MarkerWatch(project, args)
        changes: asyncio.Queue = asyncio.Queue()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        found = await asyncio.to_thread(watch.scan)
        watcher = ProjectWatcher(
            project,
            lambda paths: loop.call_soon_threadsafe(changes.put_nowait, paths),
            skip=watch.skip,
            debounce_s=args.debounce,
        ).start()
        print(
            f"watching {project.name} for `# orps: <request>` markers ({found} already there: save their file "
            "to start); Ctrl+C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(changes.get())
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                getter.cancel()
                stopper.cancel()
                if getter in done and not getter.cancelled():
                    for path in sorted(getter.result()):
                        watch.changed(path.relative_to(project).as_posix())
        finally:
            watcher.stop()
            pending = [t for t in watch.running.values() if not t.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    from orps_tui.solving import run_promptly

    run_promptly(main())  # not asyncio.run: it would wait for worker threads a cancel left busy
    print("stopped watching (finished runs are kept: orps runs)", file=sys.stderr, flush=True)
    return 0
