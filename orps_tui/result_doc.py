"""A finished search as the user reads it: the result document (`orps_tui/schemas/solve.json`,
stored as the run's `result.json`), its outcome word, the patch worth proposing and what a
`--goal faster` patch says about itself.

Shared by `orps solve`, `orps demo`, `orps watch`, `orps review --solve` and the TUI, so a run
reads the same wherever it was started.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orps_tui.schema import SCHEMA_VERSION
from runners.code.proposal import node_patch, node_signature_change
from search.engine import SearchResult
from search.tree import Node

if TYPE_CHECKING:
    from orps_tui.solving import SolveJob


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
