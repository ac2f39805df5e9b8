"""One search on the user's project: prepare it (task, settings, run directory, sandbox),
run it and confirm its proposal; `orps_tui/result_doc.py` turns the result into the result
document and the patch.

Used by `orps solve`, `orps demo` and the TUI, so all of them store the same files in
`.orps/runs/<id>/` and propose the same patch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from orps_tui.errors import UserError
from orps_tui.result_doc import is_improvement
from runners.code.proposal import code_patch
from runners.target import Target, TargetError
from search.engine import SearchResult
from search.events import EventBus
from search.session import run_search
from search.settings import SearchSettings
from search.store import RunDir, find_run
from search.tree import ORIGINAL_ID, node_name
from search.types import Evaluator, Goal, Task


@dataclass
class SolveJob:
    project: Path
    task: Task
    settings: SearchSettings
    run: RunDir
    evaluator: Evaluator
    original_file: str
    resume: bool = False
    left_out: dict[str, str] = field(default_factory=dict)
    """Selected test files that cannot be imported, left out of the search: path -> error."""
    confirmations: dict[str, dict] = field(default_factory=dict)
    """Node id -> its confirmation run (`runners.testing.confirm`): status, reason, line."""

    async def execute(self, bus: EventBus | None = None, on_tree=None) -> SearchResult:
        """Run (or resume) the search; everything is persisted in `self.run`. Then the
        proposal is confirmed (`confirm_proposal`)."""
        result = await run_search(
            self.task,
            self.settings,
            self.evaluator,
            self.run,
            bus=bus,
            resume=self.resume,
            on_tree=on_tree,
            probes=probe_runner(self.task, self.evaluator),
        )
        await confirm_proposal(self, result)
        return result


CONFIRM_AT_MOST = 3
"""Candidates a search confirms at most: the best, then the next ones while confirmation fails."""


async def confirm_proposal(job: SolveJob, result: SearchResult) -> None:
    """Confirm the best candidate with its code in a process of its own (once per
    proposal, not per candidate); when that fails, the next candidate that would be
    proposed, up to CONFIRM_AT_MOST. A confirmed candidate becomes the proposal; with none,
    one that could not be confirmed (said why) is preferred to one whose confirmation failed."""
    from runners.testing.evaluator import SandboxEvaluator

    if result.status != "solved" or job.task.kind != "project" or not isinstance(job.evaluator, SandboxEvaluator):
        return
    goal = job.settings.goal
    candidates = [result.best] + sorted(
        (n for n in result.tree if n is not result.best and n.id != ORIGINAL_ID and n.code.strip() and n.all_passed),
        key=lambda n: (-n.pass_rate, n.runtime if goal == "faster" else 0),
    )
    ranked = [n for n in candidates if n is not None and is_improvement(n, result.baseline, goal)][:CONFIRM_AT_MOST]
    for node in ranked:
        confirmation = await job.evaluator.confirm(job.task, node.code)
        job.confirmations[node.id] = {**confirmation.to_dict(), "line": confirmation.line}
        if confirmation.status == "confirmed":
            result.best = node
            return
    unconfirmed = next((n for n in ranked if job.confirmations[n.id]["status"] == "unconfirmed"), None)
    if unconfirmed is not None:
        result.best = unconfirmed


def probe_runner(task: Task, evaluator: Evaluator):
    """How agreement runs a project's candidates on probe inputs: a probe test file in the
    sandboxed copy (needs the local sandbox's `files=`); dataset tasks need none."""
    from runners.speed.probes import project_probes
    from runners.testing.evaluator import SandboxEvaluator

    return project_probes(evaluator) if task.kind == "project" and isinstance(evaluator, SandboxEvaluator) else None


def resolve_settings(project: Path, overrides: dict[str, Any]) -> SearchSettings:
    from orps_tui.config import load_config

    config = load_config(project, cli=overrides)
    return config.settings


def make_evaluator(settings: SearchSettings, read_paths: Sequence[str] = ()) -> Evaluator:
    from runners.testing.evaluator import SandboxEvaluator

    return SandboxEvaluator(timeout_s=settings.timeout_s, memory_mb=settings.memory_mb, read_paths=read_paths)


@dataclass
class SolveRequest:
    """What one search is asked to do, as `orps solve` takes it (see `request_from_args` in
    commands/solve.py); the TUI, watch mode and tests build it directly."""

    target: str | None = None
    """`path/to/file.py::name` or `path::Class.method`; not needed with `resume`."""
    tests: list[str] | None = None
    """pytest node ids or paths; None: the tests that use the target."""
    k: str | None = None
    """a pytest -k expression selecting tests."""
    problem_file: str | None = None
    problem_text: str | None = None
    problem_mode: str = "append"
    """append the given problem to the docstring, or `replace` it."""
    new: bool = False
    """the target is a new function even if its name is close to an existing one."""
    resume: str | None = None
    """continue this run (id, prefix or 'latest') instead of starting one."""
    sandbox_read: list[str] = field(default_factory=list)
    """paths outside the project that the tests read, mounted read-only in the sandbox."""
    settings: dict[str, Any] = field(default_factory=dict)
    """settings given for this search (flags), over [tool.orps] and the defaults."""


def prepare_job(project: Path, request: SolveRequest, evaluator: Evaluator | None = None) -> SolveJob:
    """Everything a search needs, checked up front so bad input fails before any model call."""
    project = Path(project).resolve()
    if request.resume:
        return job_from_run(project, request.resume, evaluator, request=request)
    if not request.target:
        raise UserError(
            "--target is required", hint="e.g. --target src/mod.py::func, or --resume RUN-ID to continue a run"
        )
    settings = resolve_settings(project, request.settings)
    problems = settings.validate()
    if problems:
        raise UserError("bad settings: " + "; ".join(problems))
    check_scripted_model(settings.model)
    from orps_tui.taskbuild import build_task

    task, original_file = build_task(
        project,
        request.target,
        tests=request.tests,
        k=request.k,
        problem_file=request.problem_file,
        problem_text=request.problem_text,
        problem_mode=request.problem_mode,
        goal=cast(Goal, settings.goal),  # SearchSettings.validate() allows only these
        new=request.new,
    )
    run = RunDir.create(project)
    run.file("original_file.txt").write_text(original_file)
    return SolveJob(
        project, task, settings, run, evaluator or make_evaluator(settings, request.sandbox_read), original_file
    )


def check_scripted_model(model: str) -> None:
    """A scripted model that does not exist is refused before any work (the tests of the
    code as it is, the import of litellm, the first call), as the first call would refuse
    it seconds later. Without importing the provider: scripts registered in this process
    imported it already, and a script file is a path."""
    import sys

    from orps_tui.errors import EXIT_MODEL_ERROR

    if not model.startswith("scripted/"):
        return
    name = model[len("scripted/") :]
    if name.endswith(".py") and Path(name).is_file():
        return
    scripted = sys.modules.get("search.providers.scripted")
    if scripted is not None and name in scripted._scripts:
        return
    why = f"no file {name}" if name.endswith(".py") else f"no script is registered as {name!r} and it is no .py file"
    raise UserError(
        f"unknown model {model!r}: {why}",
        hint="scripted/path/to/script.py runs a script's respond(messages, params) (see "
        "docs/example_model.py); a real model: openai/gpt-4o-mini, ollama/qwen2.5-coder, local/smollm2",
        code=EXIT_MODEL_ERROR,
    )


# The flags that say what the task is; a resumed run keeps its own (the tree was grown for it).
TASK_FLAGS = {"tests": "--tests", "k": "-k", "problem_file": "--problem", "problem_text": "--problem-text"}


def _refuse_task_changes(run_id: str, task: Task, settings: dict[str, Any], request: SolveRequest) -> None:
    """Resuming may raise the budget or change how the search goes on, never what it solves."""
    changed = [flag for name, flag in TASK_FLAGS.items() if getattr(request, name)]
    if request.target and request.target != task.target:
        changed.insert(0, "--target")
    if request.problem_mode != "append":
        changed.append("--problem-mode")
    overrides = request.settings
    if "goal" in overrides and overrides["goal"] != settings.get("goal", task.goal):
        changed.append("--goal")
    if changed:
        raise UserError(
            f"run {run_id} searches {task.target} with its own tests and problem; "
            f"{', '.join(changed)} would change that task, so they cannot be used with --resume",
            hint="drop them to continue the run, or start a new search without --resume",
        )


def job_from_run(
    project: Path,
    run_id: str,
    evaluator: Evaluator | None = None,
    *,
    request: SolveRequest | None = None,
    resume: bool = True,
    evaluator_for: Callable[[SearchSettings], Evaluator] | None = None,
) -> SolveJob:
    """The job of a stored run, to resume it (the same run directory continues) or to review it.
    `request`: what `orps solve --resume` was given; it may change how the search goes on
    (a larger budget, ...), never what it solves. Without `evaluator`, `evaluator_for` (default:
    a new sandbox) gives the evaluator for the run's settings (the TUI shares one)."""
    run = find_run(project, run_id)
    if run is None:
        raise UserError(f"no run {run_id!r} in {project / '.orps' / 'runs'}", hint="orps runs lists them")
    task_data = run.read("task.json")
    if not task_data:
        raise UserError(f"run {run.id} has no task.json; it cannot be resumed")
    task = Task.from_dict(task_data)
    saved = run.read("settings.json") or {}
    if request is not None:
        _refuse_task_changes(run.id, task, saved, request)
    settings = SearchSettings.from_dict({**saved, **(request.settings if request else {})})
    original = run.file("original_file.txt")
    original_file = original.read_text() if original.exists() else ""
    evaluator = evaluator or (evaluator_for or make_evaluator)(settings)
    return SolveJob(project, task, settings, run, evaluator, original_file, resume=resume)


def _find_run(project: Path, run_id: str):
    found = find_run(project, run_id)
    if found is None:
        raise UserError(
            f"no run {run_id!r} in {project / '.orps' / 'runs'} (or the prefix is ambiguous)",
            hint="orps runs lists them",
        )
    return found


def patch_from_run(project: Path, run_id: str, node_id: str | None) -> str:
    """The run's best patch, or the patch that puts `node_id`'s code into the file as the
    run saw it (`original_file.txt`), so a stale base is detected like any other patch."""
    from runners.code.splice import SpliceError

    found = _find_run(project, run_id)
    if node_id is None:
        patch = (found.read("result.json") or {}).get("patch", "")
        if not patch:
            raise UserError(
                f"run {found.id} has no patch to apply (unsolved, nothing better than the original, or still running)",
                hint=f"orps apply --run {found.id} --node ID applies another node",
            )
        return patch
    nodes: dict[Any, dict[str, Any]] = {
        n.get("id"): n for n in (found.read("tree.json") or {}).get("nodes", []) if isinstance(n, dict)
    }
    node = nodes.get(ORIGINAL_ID if node_id == "original" else node_id)
    if node is None:
        shown = ", ".join(node_name(n) for n in list(nodes)[:12]) or "none"
        raise UserError(f"run {found.id} has no node {node_id!r}", hint=f"its nodes: {shown}")
    task = found.read("task.json") or {}
    target = task.get("target", "")
    original = found.file("original_file.txt")
    try:
        parsed: Target | None = Target.parse(target)
    except TargetError:
        parsed = None
    if parsed is None or not original.is_file():
        raise UserError(f"run {found.id} did not save its target file, so a node's patch cannot be built")
    path, qualname = parsed.path, parsed.qualname
    base = original.read_bytes().decode("utf-8")
    try:  # the patch the run itself proposes for a node (runners.code.proposal.node_patch)
        patch = "" if node.get("id") == ORIGINAL_ID else code_patch(target, project, base, node.get("code") or "")
    except SpliceError as err:
        raise UserError(f"node {node_id}'s code cannot be put in place of {qualname}: {err}") from None
    if not patch:
        raise UserError(f"node {node_id} changes nothing in {path}")
    return patch


def run_promptly(coro):
    """asyncio.run, except that it does not wait for the loop's worker threads at the end.

    asyncio.run joins every thread of the default executor before returning; after a
    cancel those can still be busy for seconds (litellm's first-call setup runs there),
    although nothing waits for their results any more. The results are saved by then.
    """
    from asyncio.runners import _cancel_all_tasks

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # shuts the default executor down without waiting
