# Over 400 lines: one search from request to result document, shared by solve, demo and the TUI; the patch itself is runners/code/proposal.py.
"""One search on the user's project: prepare it (task, settings, run directory, sandbox),
run it, and turn its result into the result document and a patch.

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
from orps_tui.schema import SCHEMA_VERSION
from runners.code.proposal import code_patch, node_patch, node_signature_change
from runners.target import Target, TargetError
from search.engine import SearchResult
from search.events import EventBus
from search.session import run_search
from search.settings import SearchSettings
from search.store import RunDir, find_run
from search.tree import ORIGINAL_ID, Node, node_name
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


def _node_summary(node: Node | None) -> dict[str, Any] | None:
    if node is None:
        return None
    ev = node.evaluation
    return {
        "id": node.id,
        "node_id": node.id,  # the documented field name; `id` stays for scripts written before it
        "pass_rate": round(node.pass_rate, 4),
        "round": node.round,
        "style": node.style,
        "verdict": ev.verdict if ev else None,
        "passed": ev.passed if ev else 0,
        "total": ev.total if ev else 0,
        "runtime_s": ev.runtime_s if ev else None,
        "process_score": node.process_score,
        "outcome_score": round(node.outcome_score, 4),
        "agreement": node.agreement,
        "probes": node.probes,
        "isolation": ev.isolation if ev else "",
        "equivalence": ev.equivalence if ev else None,
        "speed": ev.speed if ev else None,
        "code": node.code,
    }


def is_improvement(best: Node | None, original: Node | None, goal: str) -> bool:
    """Only a candidate that beats the code as it is becomes a patch: more tests passing
    (fix), or every test passing and measurably faster (faster)."""
    if best is None or best.evaluation is None:
        return False
    if original is None or original.evaluation is None:
        return goal == "fix" and best.pass_rate > 0
    if goal == "faster" and best.evaluation.speed is not None:  # timed per call against the original
        return best.all_passed and bool(best.evaluation.speed.get("faster"))
    if goal == "faster":
        base_rt = original.evaluation.runtime_s
        return best.all_passed and base_rt is not None and best.runtime < base_rt
    return best.pass_rate > original.pass_rate


NO_IMPROVEMENT = "no_improvement"
"""The outcome of a search whose best candidate passes every test but does not beat the
code as it is (no faster version found; or the tests already passed): nothing to apply,
so it is not `solved` (`orps solve` exits 1, as for `unsolved`)."""


def outcome(status: str, best: Node | None, original: Node | None, goal: str) -> str:
    """The engine's status as the user should read it: `solved` only when there is a
    patch worth applying."""
    if status == "solved" and not is_improvement(best, original, goal):
        return NO_IMPROVEMENT
    return status


def finish_result(job: SolveJob, result: SearchResult, patch_out: str | None = None) -> dict[str, Any]:
    """Build the result document, store it in the run, and write the patch file if asked."""
    best = result.best
    worth_proposing = is_improvement(best, result.baseline, job.settings.goal)
    patch = node_patch(job.task, job.original_file, best) if worth_proposing else ""
    if patch and job.settings.goal == "faster":
        assert best is not None  # a patch comes from a node
        patch = faster_header(best) + patch
    status = outcome(result.status, best, result.baseline, job.settings.goal)
    if status == "solved" and not patch:  # "faster" by measuring noise, with your code unchanged
        status = NO_IMPROVEMENT
    confirmation = job.confirmations.get(best.id) if best is not None and patch else None
    if patch and confirmation is None:
        why = (
            "not every test passes, so there is no pass to confirm"
            if result.status != "solved"
            else "no confirmation run (it needs the local sandbox)"
        )
        confirmation = {"status": "unconfirmed", "reason": why, "line": f"unconfirmed: {why}"}
    if confirmation and confirmation["status"] == "failed":
        # Passed in the test process, failed with its code out of the tests' reach: never proposed.
        patch, status = "", "unsolved"
    elif confirmation:
        patch = f"# orps confirmation: {confirmation['line']}\n" + patch
    if status != result.status:  # the run list (meta.json) says what the document says
        job.run.update_meta(result=status)
    stored = job.run.read("result.json", {}) or {}
    usage = stored.get("usage", {})
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": job.run.id,
        "run_dir": str(job.run.path),
        "status": status,
        "stop_reason": result.stop_reason,
        "start": result.start,
        "plan": result.plan,
        "critic": result.critic,
        "agreement": result.agreement,
        "target": job.task.target,
        "goal": job.settings.goal,
        "model": job.settings.model,
        "strategy": job.settings.strategy,
        "problem": job.task.problem,
        "tests": job.task.tests,
        "left_out": job.left_out,
        "best": _node_summary(best),
        "original": _node_summary(result.baseline),
        "baseline": _node_summary(result.baseline),  # the older name of `original`; stays for scripts
        "patch": patch,
        "confirmation": confirmation,
        "confirmations": job.confirmations,
        "signature_change": node_signature_change(job.task, job.original_file, best) if patch else None,
        "usage": usage,
        "llm": {k: usage.get(k, 0) for k in ("calls", "prompt_tokens", "completion_tokens", "cost_usd")},
        "nodes": len(result.tree),
        "settings": job.settings.to_dict(),
    }
    if doc["original"] and best and best.evaluation and best.evaluation.runtime_s and doc["original"]["runtime_s"]:
        doc["speedup"] = round(doc["original"]["runtime_s"] / best.evaluation.runtime_s, 2)
    speed = best.evaluation.speed if best and best.evaluation else None
    if speed and speed.get("measured"):  # the per-call timing against the original decides
        doc["speedup"] = round(speed["speedup"], 2)
        doc["speedup_bounds"] = [round(speed["low"], 2), round(speed["high"], 2)]
    if job.settings.goal == "faster":
        differ = not_same(result.tree)
        if differ:
            doc["not_same"] = differ
    caught = [
        {"node": n.id, "reason": n.evaluation.message}
        for n in result.tree
        if n.evaluation is not None and n.evaluation.verdict == "suspicious"
    ]
    if caught:  # candidates that passed the wrong way: never proposed, and said why
        doc["suspicious"] = caught
    if patch and patch_out:
        Path(patch_out).write_text(patch)
        doc["patch_file"] = str(patch_out)
    job.run.write("result.json", {**stored, **doc})
    return doc


def faster_header(best: Node) -> str:
    """What a --goal faster patch says about itself, before the diff (patch tools skip it)."""
    lines = []
    speed = best.evaluation.speed if best.evaluation else None
    if speed and speed.get("measured"):
        lines.append(
            f"# orps: {speed['speedup']:.2f}x faster per call (interval {speed['low']:.2f}x-{speed['high']:.2f}x, "
            f"noise {speed['noise']:.1%}, {speed['repeats']} interleaved repeats, "
            f"threshold {speed['min_speedup']:.0%})"
        )
    same = best.evaluation.equivalence if best.evaluation else None
    if same and same.get("same"):
        line = f"# orps: same answers as the original on {same['compared']} call(s)"
        cov = same.get("coverage")
        if cov:
            line += f", which run {cov['percent']}% of the changed lines"
            if cov.get("thin"):
                line += " (thin evidence: under 80%)"
        lines.append(line)
        g = same.get("generated_difference")
        if g:
            lines.append(
                f"# orps: but on {g['call']}, an input generated beyond the tests, {g['what']}: "
                f"original {g['original']}, candidate {g['candidate']}"
            )
    elif same and same.get("same") is None:
        lines.append(f"# orps: behaviour not checked: {same.get('note', '')}")
    return "".join(line + "\n" for line in lines)


def not_same(tree) -> list[dict]:
    """Candidates that passed the tests but answered a recorded call differently."""
    found = []
    for node in scoring_order(tree):
        eq = node.evaluation.equivalence if node.evaluation else None
        if eq and eq.get("same") is False and eq.get("difference"):
            found.append(
                {"node": node.id, **{k: eq["difference"][k] for k in ("call", "what", "original", "candidate")}}
            )
    return found


def scoring_order(tree) -> list[Node]:
    from search.scoring import in_id_order

    return in_id_order(tree)


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
