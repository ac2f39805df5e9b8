"""The search loop shared by every strategy: expand a node, evaluate, critique, pick.

Kept whole because `Search` is one object whose steps (expand, evaluate, critique, a round
that ends at its first passing answer, the answer) share its tree, budget and critic state.

`Search.run()` measures the user's code, plans the search, runs one strategy from
`search.strategies` and picks the answer. A strategy decides which nodes to expand;
`Search.expand` does one node: ask the programmer model (through a `ModelClient`), run
the code (through an `Evaluator`), and have the critic review it. The shape of the
search (samples, beam, rounds, critic) comes from `search.plan.make_plan`, which fits
it to the budget.

Where it starts: when the target has a real body, the unmodified code is run first as
the `baseline` node and is the root of the tree: strategies that refine (orps,
reflexion, rex) start from its code and failing tests with their messages. A stub body
(`pass`, `...`, `raise NotImplementedError`, a docstring) gets fresh samples only.

A critic that gives no usable score in its first few answers is switched off for the
rest of the run. The answer is the node with the best pass rate, then the best outcome
score (see `search.scoring`; --goal faster: then the least measured runtime). Budget exhaustion and cancellation end
the search cleanly with what it found; everything is persisted through the `on_change`
callback.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from search import agreement, batching, prompts, round_stop, scoring
from search.events import EventBus
from search.parsing import is_stub, parse_critic, parse_program
from search.plan import Plan, make_plan
from search.round_critic import parse_round_critic, round_critic_messages
from search.settings import SearchSettings
from search.stop import StopReason
from search.strategies import get_strategy
from search.tree import ORIGINAL_ID, Node, SearchTree
from search.types import BudgetExceeded, Completion, Evaluation, Evaluator, ModelClient, Task

CRITIC_MAX_TOKENS = 256
"""A critique is short; a long one is usually a model repeating itself."""
RUNTIME_REPEATS = 5
"""Repeats when measuring runtime for --goal faster (the minimum is kept)."""
CRITIC_TRIES = 3
"""Critic answers without a usable score, with none usable yet, before it is switched off."""


@dataclass
class SearchResult:
    status: str
    """solved (best passes every public test), unsolved, or cancelled."""
    stop_reason: StopReason
    """Why the loop ended: the strategy's reason (satisfied, solved, rounds, steps, samples,
    chain, single, budget, no_nodes; see `search.strategies`) or cancelled."""
    best: Node | None
    tree: SearchTree
    wall_s: float
    baseline: Node | None = None
    start: str = "fresh"
    """user_code (round 0 refined the user's code too) or fresh (samples only)."""
    plan: dict[str, Any] | None = None
    critic: dict[str, Any] | None = None
    """Critic calls, usable answers, and why it was switched off (if it was)."""
    agreement: dict[str, Any] | None = None
    """What agreement among tied candidates did (`AgreementReport.to_dict`), when it was on."""

    def summary(self) -> dict[str, Any]:
        best = self.best
        return {
            "start": self.start,
            "plan": self.plan,
            "critic": self.critic,
            "agreement": self.agreement,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "best": best.id if best else None,
            "passed": best.evaluation.passed if best and best.evaluation else 0,
            "total": best.evaluation.total if best and best.evaluation else 0,
            "nodes": len(self.tree),
            "wall_s": round(self.wall_s, 3),
        }


def node_seed(base: int, node_id: str) -> int:
    """A per-node seed that does not depend on scheduling order."""
    return (base * 1_000_003 + zlib.crc32(node_id.encode())) % (2**31)


class Search:
    def __init__(
        self,
        task: Task,
        settings: SearchSettings,
        gateway: ModelClient,
        evaluator: Evaluator,
        bus: EventBus | None = None,
        tree: SearchTree | None = None,
        on_change: Callable[[SearchTree], None] | None = None,
        probes: agreement.ProbeRunner | None = None,
    ):
        self.task = task
        self.settings = settings
        self.gateway = gateway
        self.evaluator = evaluator
        self.bus = bus or EventBus()
        self.tree = SearchTree()
        self.previous = tree or SearchTree()
        """Nodes from an interrupted run: reused by id instead of calling the model again."""
        self.on_change = on_change or (lambda tree: None)
        self.budget_hit = False
        self.baseline: Node | None = None
        self.start = "fresh"
        self.plan: Plan = make_plan(settings)
        self.critic_on = self.plan.critic
        self.critic_stats: dict[str, Any] = {
            "calls": 0,
            "usable": 0,
            "disabled": "",
            "mode": settings.critic_mode,
            "round_calls": 0,
        }
        self.probes = probes
        """Runs a candidate on probe inputs (agreement); default: through the evaluator, for
        dataset tasks. A project task needs one from the runners."""

    # -- one node ---------------------------------------------------------------------------
    def _reuse(self, node_id: str) -> Node | None:
        old = self.previous.get(node_id)
        if old is None or old.status == "failed":
            return None
        return old

    def _record(self, node: Node) -> None:
        self.tree.add(node)
        self.on_change(self.tree)

    async def _call(
        self,
        node: Node,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        seed: int,
        max_tokens: int | None = None,
        code_for: str | None = None,
    ) -> Completion | None:
        # An answer a round may drop (search.round_stop) is cached only once it is kept; a
        # model client without `keep` (no Gateway) has no cache to hold back.
        later: dict[str, Any] = (
            {"cache_when_kept": True} if round_stop.current() and hasattr(self.gateway, "keep") else {}
        )
        try:
            completion = await self.gateway.complete(
                model,
                messages,
                temperature=temperature,
                max_tokens=max_tokens or self.settings.max_tokens,
                seed=seed,
                code_for=code_for,
                **later,
            )
        except BudgetExceeded as err:
            if not self.budget_hit:
                self.budget_hit = True
                self.bus.emit("budget_exhausted", reason=str(err), usage=self.gateway.usage.to_dict())
            return None
        node.usage.add(completion)
        self.bus.emit("usage", **self.gateway.usage.to_dict())
        return completion

    async def expand(self, node_id: str, parent: Node | None, round_: int, style: str, critic: bool) -> Node | None:
        """Generate (or reuse), evaluate and optionally critique one node. In a round that
        ends at its first satisfying node (search.round_stop), None when it ended before
        this node's answer was taken."""
        seat = round_stop.current()
        old = self._reuse(node_id)
        if (
            old is not None
            and old.status == "critiqued"
            or (old is not None and old.status == "evaluated" and not critic)
        ):
            self._record(old)
            self.bus.emit("node_reused", node=old.id)
            if seat is not None:
                seat.answer(None)
                seat.decide(old)
            return old
        node = old or Node(id=node_id, parent=parent.id if parent else None, round=round_, style=style)
        completion = None
        if not node.code and not node.raw_answer:
            messages = prompts.programmer_messages(self.task, style, parent, self._baseline_runtime())
            completion = await self._call(
                node,
                self.settings.model,
                messages,
                temperature=self.settings.temperature,
                seed=node_seed(self.settings.seed, node_id),
                code_for=self.task.entry_point,
            )
            if completion is None:
                batching.done_with_first_call()
                return None
            answer = parse_program(completion.text, self.task.entry_point, completion.finish_reason)
            node.raw_answer, node.reasoning, node.code, node.notes = (
                completion.text,
                answer.reasoning,
                answer.code,
                answer.notes,
            )
        batching.done_with_first_call()  # a critic call of this node never joins the round's batch
        if seat is not None:
            seat.answer(completion.batch_order if completion is not None else None)
            if seat.order is not None and not await self._take_turn(node, seat, completion):
                return None
        self._record(node)
        self.bus.emit("node_created", node=node.id, parent=node.parent, round=round_, style=style, notes=node.notes)
        if node.evaluation is None:
            node.evaluation = await self._evaluate(node.code)
            node.outcome_score = scoring.outcome_score(node.evaluation, self.settings.goal == "faster")
            node.status = "evaluated"
            self._record(node)
        self._emit_evaluated(node)
        if critic:
            await self.critique(node)
        if seat is not None:
            seat.decide(node)
        return node

    async def _take_turn(self, node: Node, seat: round_stop.Seat, completion: Completion | None) -> bool:
        """An answer with a place in its round's batch: checked at once (while the batch goes
        on), then kept only when no earlier answer of the batch ended the round."""
        node.evaluation = await self._evaluate(node.code)
        node.outcome_score = scoring.outcome_score(node.evaluation, self.settings.goal == "faster")
        node.status = "evaluated"
        kept = await seat.turn()
        keep = getattr(self.gateway, "keep", None)
        if keep is not None and completion is not None:
            keep(completion, kept)
        return kept

    def _emit_evaluated(self, node: Node) -> None:
        ev = node.evaluation
        assert ev is not None  # called once the node is evaluated
        self.bus.emit(
            "node_evaluated",
            node=node.id,
            verdict=ev.verdict,
            passed=ev.passed,
            total=ev.total,
            runtime_s=ev.runtime_s,
            outcome_score=node.outcome_score,
            message=(ev.message.strip().splitlines() or [""])[0][:200],
        )

    async def _evaluate(self, code: str) -> Evaluation:
        if not code.strip():
            return Evaluation(verdict="error", total=len(self.task.tests), message="the answer contained no code")
        return await self.evaluator.evaluate(self.task, code)

    async def critique(self, node: Node) -> None:
        if not self.critic_on:
            node.critic_fallback = True
            node.notes.append("critic off: used the outcome score")
            self._record(node)
            return
        messages = prompts.critic_messages(self.task, node, self._baseline_runtime())
        completion = await self._call(
            node,
            self.settings.critic_model or self.settings.model,
            messages,
            temperature=0.0,
            seed=node_seed(self.settings.seed, node.id + "/critic"),
            max_tokens=min(self.settings.max_tokens, CRITIC_MAX_TOKENS),
        )
        if completion is None:
            # Left "evaluated" so that a resumed run with more budget critiques it.
            node.critic_fallback = True
            node.notes.append("critic skipped: budget exhausted; used the outcome score")
        else:
            answer = parse_critic(completion.text)
            self._count_critic(answer.score is not None)
            node.critique, node.process_score = answer.critique, answer.score
            node.notes.extend(answer.notes)
            node.critic_fallback = answer.score is None
            node.status = "critiqued"
        self._record(node)
        self.bus.emit(
            "node_critiqued",
            node=node.id,
            process_score=node.process_score,
            fallback=node.critic_fallback,
            critique=node.critique[:200],
        )

    @property
    def critic_per_node(self) -> bool:
        return self.critic_on and self.settings.critic_mode != "round"

    async def critique_round(self, nodes: list[Node]) -> None:
        """critic_mode=round: one critic call scores every node of the round not yet reviewed;
        a node the answer gives no score falls back to its outcome score."""
        todo = [n for n in nodes if n.status == "evaluated" and n.id != ORIGINAL_ID]
        if not todo:
            return
        if not self.critic_on:
            for node in todo:
                await self.critique(node)  # records the fallback
            return
        messages = round_critic_messages(self.task, todo, self._baseline_runtime())
        completion = await self._call(  # its usage is recorded on the round's first node
            todo[0],
            self.settings.critic_model or self.settings.model,
            messages,
            temperature=0.0,
            seed=node_seed(self.settings.seed, "round/" + ",".join(n.id for n in todo)),
            max_tokens=min(self.settings.max_tokens, 48 * len(todo) + 32),
        )
        self.critic_stats["round_calls"] += 1
        parsed = parse_round_critic(completion.text, len(todo)) if completion else None
        for i, node in enumerate(todo):
            if parsed is None:
                node.critic_fallback = True
                node.notes.append("critic skipped: budget exhausted; used the outcome score")
            else:
                score = parsed.scores[i]
                self._count_critic(score is not None)
                assert completion is not None  # parsed from it
                node.critique, node.process_score = parsed.critiques[i] or completion.text.strip(), score
                node.critic_fallback = score is None
                if score is None:
                    node.notes.append("round critic gave no score for it; used the outcome score")
                node.status = "critiqued"
            self._record(node)
            self.bus.emit(
                "node_critiqued",
                node=node.id,
                process_score=node.process_score,
                fallback=node.critic_fallback,
                critique=node.critique[:200],
            )

    def _count_critic(self, usable: bool) -> None:
        stats = self.critic_stats
        stats["calls"] += 1
        stats["usable"] += int(usable)
        if self.critic_on and stats["usable"] == 0 and stats["calls"] >= CRITIC_TRIES:
            self.critic_on = False
            stats["disabled"] = f"no usable score in its first {stats['calls']} answers"
            self.bus.emit("critic_disabled", reason=stats["disabled"], calls=stats["calls"])

    def _baseline_runtime(self) -> float | None:
        ev = self.baseline.evaluation if self.baseline else None
        return ev.runtime_s if ev else None

    # -- the whole search -------------------------------------------------------------------
    async def _measure_baseline(self) -> None:
        """The unmodified target, run like every candidate: what a proposal must beat."""
        node = Node(id=ORIGINAL_ID, parent=None, round=-1, style="original", code=self.task.original_code)
        node.evaluation = await self.evaluator.evaluate(self.task, node.code)
        if self.settings.goal == "faster":
            await self._remeasure(node)
        node.outcome_score = scoring.outcome_score(node.evaluation, self.settings.goal == "faster")
        node.status = "evaluated"
        self.baseline = node
        self._record(node)
        self._emit_evaluated(node)

    def _nothing_to_fix(self) -> bool:
        ev = self.baseline.evaluation if self.baseline else None
        return self.settings.goal == "fix" and ev is not None and ev.all_passed

    async def _remeasure(self, node: Node) -> None:
        """Replace one noisy runtime with the minimum of several (if the evaluator can)."""
        if node.evaluation is None or not node.evaluation.all_passed:
            return
        runtime = await self.evaluator.measure_runtime(self.task, node.code, RUNTIME_REPEATS)
        if runtime is not None:
            node.evaluation.runtime_s = runtime
            node.notes.append(f"runtime re-measured: min of {RUNTIME_REPEATS} runs")

    async def _time_against_original(self, nodes: list[Node]) -> None:
        """--goal faster, when the evaluator can: each finalist timed per call against the
        original, interleaved in one run; its verdict (`Evaluation.speed`) decides the answer."""
        compare = getattr(self.evaluator, "compare_speed", None)
        if compare is None or self.baseline is None or self.task.kind != "project":
            return
        for node in nodes:
            if node.evaluation is None or not node.evaluation.all_passed or node.code == self.task.original_code:
                continue
            speed = await compare(self.task, node.code, self.settings.min_speedup)
            node.evaluation.speed = speed
            self._record(node)
            self.bus.emit("speed", node=node.id, **speed)

    def _pick(self) -> Node | None:
        candidates = [n for n in self.tree if n.id != ORIGINAL_ID]
        timed = [
            n
            for n in scoring.in_id_order(candidates)
            if n.all_passed and (n.evaluation.speed or {}).get("faster")  # type: ignore[union-attr]  # all_passed: evaluated
        ]
        if self.settings.goal == "faster" and timed:  # really faster, by the interleaved timing
            return max(timed, key=lambda n: n.evaluation.speed["speedup"])  # type: ignore[union-attr,index]  # timed
        if self.settings.goal == "faster":
            ranked = sorted(scoring.in_id_order(candidates), key=scoring.faster_key, reverse=True)
            return ranked[0] if ranked else None
        return scoring.best_node(candidates)

    async def _agree(self, best: Node | None) -> tuple[Node | None, dict[str, Any]]:
        """Agreement among the candidates tied on the public pass rate (search.agreement);
        recorded on the probed nodes, in an `agreement` event and in the result."""
        run = self.probes
        if run is None and self.task.kind == "asserts":
            run = agreement.evaluator_probes(self.evaluator)
        candidates = [n for n in self.tree if n.id != ORIGINAL_ID]
        if run is None:
            report = agreement.AgreementReport(
                before=best.id if best else None,
                chosen=best.id if best else None,
                skipped="probes of a project's function need a probe runner",
            )
        else:
            try:
                report = await agreement.select_by_agreement(self.task, candidates, run, seed=self.settings.seed)
            except asyncio.CancelledError:
                return best, {"skipped": "cancelled", "chosen": best.id if best else None}
            agreement.record_on_nodes(report, candidates)
            self.on_change(self.tree)
        chosen = self.tree.get(report.chosen) if report.chosen else None
        self.bus.emit("agreement", **report.to_dict())
        return (chosen or best), report.to_dict()

    async def run(self) -> SearchResult:
        started = time.perf_counter()
        strategy = get_strategy(self.settings.strategy)
        self.bus.emit(
            "run_started", task=self.task.id, strategy=self.settings.strategy, settings=self.settings.to_dict()
        )
        status_override = None
        try:
            if self.task.original_code.strip():
                await self._measure_baseline()
                if strategy.refines and not is_stub(self.task.original_code, self.task.entry_point):
                    self.start = "user_code"
            self.plan = make_plan(self.settings, self.start)
            self.critic_on = self.plan.critic
            if self._nothing_to_fix():
                # Tests are the only judge of a fix: no candidate can beat code that passes
                # them all, so not one model call is spent looking for it.
                stop_reason = StopReason.PASSING
            else:
                self.bus.emit("plan", **self.plan.to_dict(), text=self.plan.describe())
                stop_reason = await strategy.run(self)
            if self.settings.goal == "faster":
                ranked = sorted(
                    (n for n in scoring.in_id_order(self.tree) if n.all_passed and n.id != ORIGINAL_ID),
                    key=scoring.faster_key,
                    reverse=True,
                )
                for node in ranked[:3]:
                    await self._remeasure(node)
                await self._time_against_original(ranked[:3])
        except asyncio.CancelledError:
            stop_reason, status_override = StopReason.CANCELLED, "cancelled"
        best = self.baseline if stop_reason == StopReason.PASSING else self._pick()
        report = None
        if (
            self.settings.agreement
            and self.settings.goal == "fix"
            and status_override is None
            and stop_reason != StopReason.PASSING
        ):
            best, report = await self._agree(best)
        status = status_override or ("solved" if best and best.all_passed else "unsolved")
        result = SearchResult(
            status,
            stop_reason,
            best,
            self.tree,
            time.perf_counter() - started,
            self.baseline,
            start=self.start,
            plan=self.plan.to_dict(),
            critic=dict(self.critic_stats),
            agreement=report,
        )
        self.on_change(self.tree)
        self.bus.emit("finished", **result.summary(), usage=self.gateway.usage.to_dict())
        return result
