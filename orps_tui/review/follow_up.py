"""A search that starts from a reviewed change (`orps review CHANGE --solve FUNC`): the root
of the tree is the function as the change left it, the project is the changed copy, and the
proposal is a follow-up patch on top of the change (apply it on a checkout of the change:
`orps apply FILE` or `git apply FILE`).

The goal follows the review unless `--goal` says otherwise: a function the change broke (or
that fails its tests) is searched to pass them (`fix`); one it only slowed is searched to be
faster with its tests still passing (`faster`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from orps_tui.errors import UserError
from runners.review.compare import ChangeReview, FunctionReview
from runners.target import Target


def find_function(change: ChangeReview, wanted: str) -> FunctionReview:
    """The touched function `wanted` names: `path::qualname`, or its qualname (or bare name)
    when that is unique among the touched functions."""
    live = [f for f in change.functions if f.kind != "removed"]
    exact = [f for f in live if wanted in (f.target, f.qualname)]
    if not exact and not Target.looks_like(wanted):
        exact = [f for f in live if f.qualname.rsplit(".", 1)[-1] == wanted]
    if len(exact) == 1:
        return exact[0]
    names = ", ".join(f.target for f in live) or "none"
    if exact:
        raise UserError(
            f"--solve {wanted} names several touched functions: {', '.join(f.target for f in exact)}",
            hint="give path::qualname",
        )
    raise UserError(f"--solve {wanted}: not a function the change touches (and keeps)", hint=f"touched: {names}")


def goal_for(function: FunctionReview) -> str:
    return _goal([function])


def _goal(functions: list[FunctionReview]) -> str:
    if any(f.verdict in ("broken", "failing") for f in functions):
        return "fix"
    return "faster" if any(f.speed == "slower" for f in functions) else "fix"


def search_from_review(args, project: Path, change: ChangeReview, root: Path, python: str) -> dict:
    """Run the search on `root` (the change's changed copy); the follow-up document.
    `args.solve` names one touched function, or several of one file separated by commas
    (searched as one task: `runners.review.together`)."""
    from orps_tui.commands.options import cli_overrides
    from orps_tui.solving import resolve_settings
    from runners.testing.evaluator import SandboxEvaluator

    names = [n.strip() for n in args.solve.split(",") if n.strip()]
    functions = list({f.target: f for f in (find_function(change, n) for n in names)}.values())
    if not functions:
        raise UserError("--solve names no function", hint="e.g. --solve path/to/mod.py::func")
    if len({f.path for f in functions}) > 1:
        raise UserError(
            "several functions are searched as one task only when they are in the same file",
            hint=f"search them one at a time: {', '.join(f.target for f in functions)}",
        )
    settings = cli_overrides(args)
    settings.setdefault("goal", _goal(functions))
    resolved = resolve_settings(root, settings)
    problems = resolved.validate()
    if problems:
        raise UserError("bad settings: " + "; ".join(problems))
    evaluator = SandboxEvaluator(
        timeout_s=resolved.timeout_s,
        memory_mb=resolved.memory_mb,
        python=python,
        read_paths=[str(Path(p).resolve()) for p in args.sandbox_read or []],
    )
    try:
        if len(functions) == 1:
            from orps_tui.solving import SolveRequest, prepare_job

            request = SolveRequest(
                target=functions[0].target,
                problem_file=args.problem_file,
                problem_text=args.problem_text,
                problem_mode=args.problem_mode,
                settings=settings,
            )
            job = prepare_job(root, request, evaluator=evaluator)
            doc = _run(args, change, job, ", ".join(f.target for f in functions), patch_out=args.patch_out)
        else:
            job, together = _together_job(args, root, functions, resolved, evaluator)
            doc = _run(args, change, job, ", ".join(f.target for f in functions), together=together)
    finally:
        evaluator.close()
    best, original = doc.get("best") or {}, doc.get("original") or {}
    return {
        "target": ", ".join(f.target for f in functions),
        "targets": [f.target for f in functions],
        "goal": doc["goal"],
        "status": doc["status"],
        "run_id": None,
        "patch": doc["patch"] or None,
        "patch_file": doc.get("patch_file"),
        "best": {"passed": best.get("passed", 0), "total": best.get("total", 0), "runtime_s": best.get("runtime_s")},
        "original": {
            "passed": original.get("passed", 0),
            "total": original.get("total", 0),
            "runtime_s": original.get("runtime_s"),
        },
        "model_calls": doc["usage"].get("calls", 0),
    }


def _together_job(args, root: Path, functions: list[FunctionReview], settings, evaluator):
    """The job of several functions of one file as one task, and how to make its patch."""
    from orps_tui.solving import SolveJob
    from runners.code.locate import LocateError, locate
    from runners.review.together import TogetherEvaluator, together_source
    from runners.testing.testselect import NoTestsFound, select_tests
    from search.store import RunDir
    from search.types import Task

    try:
        located = [locate(root, f.target) for f in functions]
    except LocateError as err:
        raise UserError(str(err)) from None
    tests, sources = [], []
    for loc in located:
        try:
            selection = select_tests(root, loc)
        except NoTestsFound:
            continue
        tests += selection.node_ids
        sources.append(selection.source)
    tests = list(dict.fromkeys(tests))
    if not tests:
        raise UserError(f"no tests use {', '.join(f.qualname for f in functions)}")
    path = functions[0].path
    file_text = (root / path).read_text()
    names = ", ".join(f"`{f.qualname}`" for f in functions)
    problem = (
        f"Change these functions of {path} together: {names}. Your code block must hold the complete "
        "definition of every one of them (with any imports and helpers they need).\n\n"
        + "\n\n".join(f"{loc.qualname}: {loc.docstring.strip() or '(no docstring)'}" for loc in located)
    )
    extra = args.problem_text or (Path(args.problem_file).read_text() if args.problem_file else "")
    if extra:
        problem = extra if args.problem_mode == "replace" else f"{problem}\n\n{extra}"
    task = Task(
        id=str(Target(path, "+".join(f.qualname for f in functions))),
        problem=problem,
        entry_point=located[0].qualname,
        kind="project",
        original_code=together_source(located),
        target=functions[0].target,
        project=str(root),
        tests=tests,
        tests_source="\n\n".join(sources),
        goal=settings.goal,
    )
    run = RunDir.create(root)
    run.file("original_file.txt").write_text(file_text)
    wrapped = TogetherEvaluator(evaluator, path, file_text, [f.qualname for f in functions], located[0].source)
    return SolveJob(root, task, settings, run, wrapped, file_text), (path, file_text, [f.qualname for f in functions])


def _run(args, change: ChangeReview, job, what: str, patch_out: str | None = None, together=None) -> dict:
    """Run `job` headless (progress on stderr, Ctrl+C stops it); its result document. With
    `together` (path, file text, qualnames) the patch holds every function the best candidate defines."""
    from orps_tui.commands.solve import ProgressPrinter, run_search
    from orps_tui.result_doc import NO_IMPROVEMENT, finish_result, is_improvement, outcome
    from orps_tui.taskbuild import runnable_tests
    from search.events import EventBus

    bus = EventBus()
    if not getattr(args, "quiet", False):
        bus.subscribe(ProgressPrinter())
        print(
            f"search from {change.name} on {what} (goal {job.settings.goal}): {len(job.task.tests)} test(s)",
            file=sys.stderr,
            flush=True,
        )

    async def prepare() -> None:
        job.task, job.left_out, _ = await runnable_tests(job.task, job.evaluator)

    result = run_search(job, bus, prepare, hint=lambda err: err.hint or "")
    doc = finish_result(job, result, patch_out=patch_out)
    if together is not None:
        from runners.review.together import together_patch

        path, file_text, qualnames = together
        best = result.best
        worth = is_improvement(best, result.baseline, job.settings.goal)
        doc["patch"] = together_patch(path, file_text, qualnames, best.code) if worth and best else ""
        status = outcome(result.status, best, result.baseline, job.settings.goal)
        doc["status"] = NO_IMPROVEMENT if status == "solved" and not doc["patch"] else status
        if doc["patch"] and args.patch_out:
            Path(args.patch_out).write_text(doc["patch"])
            doc["patch_file"] = str(args.patch_out)
    return doc
