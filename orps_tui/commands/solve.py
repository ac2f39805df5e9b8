"""`orps solve`: search for a better version of one function in the project, headless or in the TUI.

Prints progress to stderr as the search goes, then the result; `--json` prints the
result document on stdout; `--patch-out FILE` writes the patch. Ctrl+C stops the search
cleanly and keeps what it found (resume with `--resume RUN-ID`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from orps_tui.commands.options import add_search_options, add_target_options, request_from_args
from orps_tui.errors import EXIT_MODEL_CRASHED, EXIT_MODEL_ERROR, UserError
from orps_tui.words import counted, evaluated, tests_selected
from search.events import Event, EventBus
from search.gateway import ModelError
from search.terminal_text import printable
from search.tree import node_name

if TYPE_CHECKING:
    from search.engine import SearchResult


def add_parser(sub):
    p = sub.add_parser(
        "solve",
        help="search for a solution to one function and propose a patch",
        description="Search for a solution with ORPS and propose it as a patch. "
        "Opens the TUI unless --headless or --json.",
    )
    add_target_options(p, required=False, positional=True)  # required unless --resume: checked in prepare_job
    add_search_options(p)
    p.add_argument("--headless", action="store_true", help="no TUI: progress on stderr, result on stdout")
    p.add_argument("--json", action="store_true", help="print the result document as JSON (implies --headless)")
    p.add_argument("--patch-out", help="write the best candidate's patch to this file")
    p.add_argument(
        "--resume",
        metavar="RUN-ID",
        help="continue an interrupted run (id, prefix or 'latest'): "
        "target, tests, problem and settings come from the run; budget flags may raise its budget",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="evaluate candidates on a Ray cluster (needs orps[ray]; headless only); 'local' starts one here",
    )
    p.set_defaults(func=run)


class ProgressPrinter:
    """One line per evaluated node and per round on stderr: what a headless user watches.

    When its reader goes away (`orps solve ... 2>&1 | head`) it stops printing and calls
    `on_closed` once: the headless run stops the search then, as a closed pipe stops any
    other program, rather than spending model calls on output nobody reads."""

    def __init__(self, stream=None, on_closed=None):
        self.stream = stream or sys.stderr
        self.on_closed = on_closed
        self.closed = False

    def __call__(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._print(event)
        except BrokenPipeError:
            self.closed = True
            if self.on_closed is not None:
                self.on_closed()

    def _print(self, event: Event) -> None:
        d = event.data
        line = None
        if event.kind == "run_started":
            s = d["settings"]
            line = f"searching with {s['strategy']} on {s['model']}"
            if s.get("budget_calls") or s.get("budget_tokens"):
                line += " (samples, beam and rounds from the budget: the plan below)"  # not the settings'
            else:
                line += f" (samples={s['samples']} beam={s['beam']} rounds={s['rounds']})"
        elif event.kind == "node_evaluated":
            runtime = f" {d['runtime_s'] * 1000:.1f}ms" if d.get("runtime_s") is not None else ""
            line = printable(f"  node {node_name(d['node']):<8} {evaluated(d)}{runtime}")  # the message is the run's
        elif event.kind == "node_critiqued":
            score = "no score (outcome used)" if d["fallback"] else f"{d['process_score']:.0f}/5"
            line = f"  node {node_name(d['node']):<8} critic {score}"
        elif event.kind == "round_done":
            line = f"round {d['round']} done: {d['nodes']} new nodes"
        elif event.kind == "plan":
            start = (
                "your code (refined) and fresh samples"
                if d["start"] == "user_code"
                else "fresh samples (no code to start from)"
            )
            line = f"start: {start}\n{d['text']}"
        elif event.kind == "critic_disabled":
            line = f"critic switched off ({d['reason']}): its calls go to the programmer"
        elif event.kind == "agreement":
            line = agreement_line(d)
        elif event.kind == "budget_exhausted":
            line = f"budget reached: {d['reason']}"
        if line:
            print(line, file=self.stream, flush=True)


def agreement_line(d: dict) -> str:
    """What agreement among tied candidates did, in one line."""
    if d.get("skipped"):
        return f"agreement: skipped ({d['skipped']})"
    scores = d.get("scores") or {}
    chosen: str = d.get("chosen")  # type: ignore[assignment]  # set whenever agreement was not skipped
    score = scores.get(chosen)
    figure = f" (agreement {score:.2f})" if isinstance(score, float) else ""
    what = (
        f"chose {node_name(chosen)}{figure} over {node_name(d['before'])}"
        if d.get("changed")
        else f"kept {node_name(chosen)}{figure}"
    )
    return f"agreement: {len(d.get('tied', []))} candidates tied, probed on {len(d.get('inputs', []))} inputs; {what}"


def run_headless(project: Path, job, args) -> int:
    """Run a prepared search job with Ctrl+C handling; print and save the result."""
    from orps_tui.cli import EXIT_BROKEN_PIPE
    from orps_tui.result_doc import finish_result

    bus = EventBus()
    searching: list[asyncio.Task] = []
    printer = ProgressPrinter(on_closed=lambda: [t.cancel() for t in searching])
    if not getattr(args, "quiet", False):
        bus.subscribe(printer)
        tests = job.task.tests
        try:
            print(
                f"{job.task.target}: {tests_selected(len(tests))}: {', '.join(tests[:6])}"
                + (f" (+{len(tests) - 6} more)" if len(tests) > 6 else ""),
                file=sys.stderr,
                flush=True,
            )
        except BrokenPipeError:  # nobody reads before anything ran: no search, no empty run left
            import shutil

            shutil.rmtree(job.run.path, ignore_errors=True)
            raise

    async def prepare() -> None:
        if not job.resume:
            await _leave_out_broken_test_files(job, quiet=getattr(args, "quiet", False))

    result = run_search(job, bus, prepare, hint=lambda err: model_error_hint(err, job, project), searching=searching)
    doc = finish_result(job, result, patch_out=args.patch_out)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print_summary(doc)
    if printer.closed:
        return EXIT_BROKEN_PIPE  # stopped because the reader of the progress went away
    if result.status == "cancelled":
        return 130
    return 0 if doc["status"] == "solved" else 1  # unsolved, or no improvement on your code (no_improvement)


def run_search(
    job,
    bus: EventBus,
    prepare: Callable[[], Awaitable[None]],
    hint: Callable[[ModelError], str],
    searching: list[asyncio.Task] | None = None,
) -> SearchResult:
    """Run a prepared job's search headless on a loop of its own: `prepare` first (inside the
    loop), Ctrl+C stops the search and keeps what it found (`interrupt_handler`), and a
    model's failure becomes a one-line `UserError` with its exit code and `hint(err)`.
    `searching` receives the search's task (for whoever must cancel it)."""
    from orps_tui.solving import run_promptly

    async def main() -> SearchResult:
        task = asyncio.current_task()
        assert task is not None
        if searching is not None:
            searching.append(task)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, interrupt_handler(task))
        try:
            await prepare()
            return await job.execute(bus)
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    try:
        return run_promptly(main())
    except ModelError as err:
        raise UserError(
            err.message,
            hint=hint(err),
            code=EXIT_MODEL_CRASHED if err.kind == "model_crashed" else EXIT_MODEL_ERROR,
        ) from None


def model_error_hint(err: ModelError, job, project: Path) -> str:
    """What to do after a model error; after a crash, how to continue the kept run."""
    if err.kind != "model_crashed":
        return err.hint or f"the run so far is saved in {job.run.path}"
    where = "" if project.resolve() == Path.cwd().resolve() else f" --project {project}"
    return f"{err.hint}; the run is kept: continue it with `orps solve --resume {job.run.id}{where}`"


def interrupt_handler(task: asyncio.Task):
    """Ctrl+C cancels `task` (the engine keeps what it found and saves the run); a second
    Ctrl+C exits at once with 130 (the sandboxes die with us: bwrap --die-with-parent)."""
    pressed = 0

    def on_sigint() -> None:
        nonlocal pressed
        pressed += 1
        if pressed == 1:
            task.cancel()  # first: a closed stderr (a reader that went away) must not lose the stop
            try:
                print("stopping (Ctrl+C again to quit at once)", file=sys.stderr, flush=True)
            except (OSError, ValueError):
                pass
        else:
            sys.stderr.flush()
            os._exit(130)

    return on_sigint


async def _leave_out_broken_test_files(job, quiet: bool) -> None:
    """Before any model call: test files that cannot be imported are left out (and named);
    when no selected test can run, the search is refused (exit 2) and its empty run removed."""
    import shutil

    from orps_tui.taskbuild import broken_files_text, runnable_tests

    try:
        job.task, job.left_out, _ = await runnable_tests(job.task, job.evaluator)
    except UserError:
        shutil.rmtree(job.run.path, ignore_errors=True)
        raise
    if job.left_out and not quiet:
        print(
            f"left out (cannot be imported): {broken_files_text(job.left_out)}; "
            f"searching with {counted(len(job.task.tests), 'test')}",
            file=sys.stderr,
            flush=True,
        )


def print_summary(doc: dict) -> None:
    from orps_tui.result_doc import NO_IMPROVEMENT

    best = doc.get("best") or {}
    original = doc.get("original") or {}
    if doc.get("stop_reason") == "passing":
        print(
            f"run {doc['run_id']}: nothing to fix: your code already passes "
            f"{'the' if original.get('total') == 1 else 'all'} {counted(original.get('total', 0), 'selected test')} "
            "(no model call made)"
        )
        print(
            "hint: if they miss the bug, add a test that shows it (or name tests with --tests, or run "
            "orps check --map to find every test that runs this function); to make it faster: --goal faster"
        )
        return
    status = "no improvement" if doc["status"] == NO_IMPROVEMENT else doc["status"]
    if best.get("verdict") == "error":  # "passes 0/3" would hide that nothing ran the tests at all
        yours = f"; your code passes {original['passed']}/{original['total']} tests" if original.get("total") else ""
        print(
            f"run {doc['run_id']}: {status} ({doc['stop_reason']}), no candidate passed a test "
            f"(the best, node {best.get('id', '-')}, is an error){yours}"
        )
    else:
        print(
            f"run {doc['run_id']}: {status} ({doc['stop_reason']}), best node {best.get('id', '-')} "
            f"passes {best.get('passed', 0)}/{best.get('total', 0)} tests"
        )
    if doc["status"] == NO_IMPROVEMENT:
        quicker = (best.get("runtime_s") or 0) < (original.get("runtime_s") or 0)
        speed = best.get("speed") or {}
        if doc.get("goal") == "faster" and speed.get("measured"):  # timed per call against your code
            print(
                f"node {best.get('id')} is {speed['speedup']:.2f}x per call (interval {speed['low']:.2f}x-"
                f"{speed['high']:.2f}x, noise {speed['noise']:.1%}): {speed['reason']}; nothing changed"
            )
        elif doc.get("goal") == "faster" and quicker:  # the same code, measured a little faster
            print(
                f"the fastest candidate is your code as it is ({_ms(best)[2:]} against {_ms(original)[2:]}: "
                "measuring noise); nothing changed"
            )
        else:
            better = "faster than" if doc.get("goal") == "faster" else "better than"
            print(
                f"no candidate is {better} your code (original: {original.get('passed', 0)}/"
                f"{original.get('total', 0)} tests{_ms(original)}; best: {best.get('passed', 0)}/"
                f"{best.get('total', 0)}{_ms(best)}); nothing changed"
            )
    if (
        doc.get("patch")
        and doc.get("goal") == "faster"
        and doc.get("original")
        and best.get("runtime_s")
        and doc["original"].get("runtime_s")
    ):
        bounds = doc.get("speedup_bounds")
        interval = f", interval {bounds[0]:.2f}x-{bounds[1]:.2f}x per call" if bounds else ""
        print(
            f"runtime: {doc['original']['runtime_s'] * 1000:.2f} ms -> {best['runtime_s'] * 1000:.2f} ms "
            f"({doc.get('speedup', 0):.2f}x{interval})"
        )
    for differ in (doc.get("not_same") or [])[:3]:  # passed the tests, answered a call differently
        print(
            printable(
                f"node {differ['node']} passes the tests but behaves differently from your code on "
                f"{differ['call']}: {differ['what']}: yours {differ['original']}, "
                f"the candidate {differ['candidate']}"
            )
        )
    caught = doc.get("suspicious") or []
    if caught and doc["status"] != "solved":
        print(
            f"{len(caught)} candidate(s) passed the wrong way and were not counted: "
            f"{printable(caught[0]['reason'].splitlines()[0][:200])}"
        )
    confirmation = doc.get("confirmation")
    if confirmation:
        print(printable(f"confirmation: {confirmation.get('line') or confirmation['status']}"))
    elif any(c.get("status") == "failed" for c in (doc.get("confirmations") or {}).values()):
        failed = next(c for c in doc["confirmations"].values() if c.get("status") == "failed")
        print(
            printable(
                f"not proposed: the best candidate passed in the test process, but its confirmation "
                f"{failed.get('line', 'failed')}"[:400]
            )
        )
    u = doc["usage"]
    print(f"model calls {u['calls']} ({u['cached_calls']} cached), tokens {u['tokens']}, cost ${u['cost_usd']:.4f}")
    if doc.get("patch"):
        change = doc.get("signature_change")
        if change:
            print(f"the patch changes the interface: {change['before']}  ->  {change['after']}")
        patch = printable(doc["patch"])  # a candidate's code: no escape sequence reaches the terminal
        print(patch, end="" if patch.endswith("\n") else "\n")
        where = doc.get("patch_file") or f"orps apply --run {doc['run_id']}"
        print(f"apply with: {where if where.startswith('orps') else 'orps apply ' + where}")
    else:
        print("no change to propose")


def _ms(node: dict) -> str:
    runtime = node.get("runtime_s")
    return f", {runtime * 1000:.2f} ms" if runtime else ""


def run(args) -> int:
    from orps_tui.config import project_dir
    from orps_tui.solving import prepare_job

    project = project_dir(args.project)
    headless = args.headless or args.json or not sys.stdout.isatty()
    if getattr(args, "ray", None) and not headless:
        raise UserError("--ray works with the headless search only", hint="add --headless or --json")
    job = prepare_job(project, request_from_args(args))
    if headless:
        if getattr(args, "ray", None):
            _use_ray(job, args.ray)
        return run_headless(project, job, args)
    from orps_tui.app import make_app, run_app

    app = make_app(
        project, target=args.target, settings=job.settings, run_id=job.run.id, resume=bool(args.resume), job=job
    )
    return run_app(app)


def _use_ray(job, address: str) -> None:
    """Evaluate the job's candidates on a Ray cluster (the model gateway stays here)."""
    from runners.ray import RayEvaluator, RayUnavailable, connect

    try:
        info = connect(address)
    except RayUnavailable as err:
        raise UserError(str(err), hint="start a cluster with `ray start --head`, or use --ray local") from None
    close = getattr(job.evaluator, "close", None)
    if close:
        close()
    job.evaluator = RayEvaluator(timeout_s=job.settings.timeout_s, memory_mb=job.settings.memory_mb)
    print(f"evaluating on Ray: {info['workers']} CPUs on {info['nodes']} node(s)", file=sys.stderr, flush=True)
