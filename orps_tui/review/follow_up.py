"""A search that starts from a reviewed change (`orps review CHANGE --solve FUNC`): the root
of the tree is the function as the change left it, the project is the changed copy, and the
proposal is a follow-up patch on top of the change (apply it on a checkout of the change:
`orps apply FILE` or `git apply FILE`).

The goal follows the review unless `--goal` says otherwise: a function the change broke (or
that fails its tests) is searched to pass them (`fix`); one it only slowed is searched to be
faster with its tests still passing (`faster`).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from orps_tui.errors import EXIT_MODEL_CRASHED, EXIT_MODEL_ERROR, UserError
from runners.review.compare import ChangeReview, FunctionReview


def find_function(change: ChangeReview, wanted: str) -> FunctionReview:
    """The touched function `wanted` names: `path::qualname`, or its qualname (or bare name)
    when that is unique among the touched functions."""
    live = [f for f in change.functions if f.kind != "removed"]
    exact = [f for f in live if wanted in (f.target, f.qualname)]
    if not exact and "::" not in wanted:
        exact = [f for f in live if f.qualname.rsplit(".", 1)[-1] == wanted]
    if len(exact) == 1:
        return exact[0]
    names = ", ".join(f.target for f in live) or "none"
    if exact:
        raise UserError(f"--solve {wanted} names several touched functions: {', '.join(f.target for f in exact)}",
                        hint="give path::qualname")
    raise UserError(f"--solve {wanted}: not a function the change touches (and keeps)", hint=f"touched: {names}")


def goal_for(function: FunctionReview) -> str:
    if function.verdict in ("broken", "failing"):
        return "fix"
    return "faster" if function.speed == "slower" else "fix"


def search_from_review(args, project: Path, change: ChangeReview, root: Path, python: str) -> dict:
    """Run the search on `root` (the change's changed copy); the follow-up document."""
    from orps_tui.commands.solve import ProgressPrinter, cli_overrides, interrupt_handler
    from orps_tui.solving import SolveRequest, finish_result, prepare_job, run_promptly
    from orps_tui.taskbuild import runnable_tests
    from runners.evaluator import SandboxEvaluator
    from search.events import EventBus
    from search.gateway import ModelError

    function = find_function(change, args.solve)
    settings = cli_overrides(args)
    settings.setdefault("goal", goal_for(function))
    request = SolveRequest(target=function.target, problem_file=args.problem_file, problem_text=args.problem_text,
                           problem_mode=args.problem_mode, settings=settings)
    from orps_tui.solving import resolve_settings

    resolved = resolve_settings(root, settings)
    evaluator = SandboxEvaluator(timeout_s=resolved.timeout_s, memory_mb=resolved.memory_mb, python=python,
                                 read_paths=[str(Path(p).resolve()) for p in args.sandbox_read or []])
    try:
        job = prepare_job(root, request, evaluator=evaluator)
        bus = EventBus()
        quiet = getattr(args, "quiet", False)
        if not quiet:
            bus.subscribe(ProgressPrinter())
            print(f"search from {change.name} on {function.target} (goal {settings['goal']}): "
                  f"{len(job.task.tests)} test(s)", file=sys.stderr, flush=True)

        async def main():
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, interrupt_handler(task))
            try:
                job.task, job.left_out, _ = await runnable_tests(job.task, job.evaluator)
                return await job.execute(bus)
            finally:
                loop.remove_signal_handler(signal.SIGINT)

        try:
            result = run_promptly(main())
        except ModelError as err:
            raise UserError(err.message, hint=err.hint or "",
                            code=EXIT_MODEL_CRASHED if err.kind == "model_crashed" else EXIT_MODEL_ERROR) from None
        doc = finish_result(job, result, patch_out=getattr(args, "patch_out", None))
    finally:
        evaluator.close()
    best, original = doc.get("best") or {}, doc.get("original") or {}
    return {"target": function.target, "goal": doc["goal"], "status": doc["status"], "run_id": None,
            "patch": doc["patch"] or None, "patch_file": doc.get("patch_file"),
            "best": {"passed": best.get("passed", 0), "total": best.get("total", 0), "runtime_s": best.get("runtime_s")},
            "original": {"passed": original.get("passed", 0), "total": original.get("total", 0),
                         "runtime_s": original.get("runtime_s")},
            "model_calls": doc["usage"].get("calls", 0)}
