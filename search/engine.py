"""The search loop shared by every strategy: generate, evaluate, critique, select.

`Search.run()` drives one of five strategies over the same gateway, evaluator and
budget, so that comparisons are fair. The shape of the search (samples, beam, rounds,
critic) comes from `search.plan.make_plan`, which fits it to the budget.

Where it starts: when the target has a real body, the unmodified code is run first as
the `baseline` node and is the root of the tree: round 0 mixes refinements of it (its
code and failing tests with their messages) with fresh samples. A stub body (`pass`,
`...`, `raise NotImplementedError`, a docstring) gets fresh samples only.

- `orps`: round 0 as above; each node is run and reviewed by the critic (critique +
  process score); the top `beam` by (process, outcome) survive; each survivor is refined
  into `children_each` children from its reasoning, code, execution feedback and
  critique; repeat for the planned rounds (and, when the critic gave up early, for as
  many more as its unused calls pay for), or stop when a node passes every test and the
  critic is satisfied. A critic that gives no usable score in its first few answers is
  switched off for the rest of the run.
- `best_of_n`: independent samples, the best on the public tests wins.
- `reflexion`: one chain of self-repair with test feedback and no critic (it starts by
  refining the user's code when there is some).
- `rex`: REx (arXiv 2405.17503): each step refines the node drawn by Thompson sampling
  from Beta(1 + C*h, 1 + C*(1 - h) + N), h its pass rate, N how often it was refined.
- `single`: one sample.

The answer is the node with the best pass rate, then the least measured runtime, then
the best outcome score. Budget exhaustion and cancellation end the search cleanly with
what it found; everything is persisted through the `on_change` callback.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from search import agreement, prompts, scoring
from search.events import EventBus
from search.gateway import BudgetExceeded, Completion, Gateway
from search.parsing import is_stub, parse_critic, parse_program
from search.plan import Plan, make_plan
from search.round_critic import parse_round_critic, round_critic_messages
from search.settings import SearchSettings
from search.tree import Node, SearchTree
from search.types import Evaluation, Evaluator, Task

CRITIC_MAX_TOKENS = 256
"""A critique is short; a long one is usually a model repeating itself."""
RUNTIME_REPEATS = 5
"""Repeats when measuring runtime for --goal faster (the minimum is kept)."""
MAX_ROUNDS = 1000
"""A guard: a token budget always ends a search long before this."""
CRITIC_TRIES = 3
"""Critic answers without a usable score, with none usable yet, before it is switched off."""


@dataclass
class SearchResult:
    status: str
    """solved (best passes every public test), unsolved, or cancelled."""
    stop_reason: str
    """Why the loop ended: satisfied, rounds, budget, cancelled, single, samples, chain."""
    best: Node | None
    tree: SearchTree
    wall_s: float
    baseline: Node | None = None
    start: str = "fresh"
    """user_code (round 0 refined the user's code too) or fresh (samples only)."""
    plan: dict | None = None
    critic: dict | None = None
    """Critic calls, usable answers, and why it was switched off (if it was)."""
    agreement: dict | None = None
    """What agreement among tied candidates did (`AgreementReport.to_dict`), when it was on."""

    def summary(self) -> dict:
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
        gateway: Gateway,
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
        self.critic_stats = {"calls": 0, "usable": 0, "disabled": "", "mode": settings.critic_mode, "round_calls": 0}
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

    async def _call(self, node: Node, model: str, messages, *, temperature: float, seed: int,
                    max_tokens: int | None = None) -> Completion | None:
        try:
            completion = await self.gateway.complete(
                model, messages, temperature=temperature, max_tokens=max_tokens or self.settings.max_tokens, seed=seed
            )
        except BudgetExceeded as err:
            if not self.budget_hit:
                self.budget_hit = True
                self.bus.emit("budget_exhausted", reason=str(err), usage=self.gateway.usage.to_dict())
            return None
        usage = node.usage
        usage["calls"] = usage.get("calls", 0) + 1
        usage["prompt_tokens"] = usage.get("prompt_tokens", 0) + completion.prompt_tokens
        usage["completion_tokens"] = usage.get("completion_tokens", 0) + completion.completion_tokens
        usage["cost_usd"] = usage.get("cost_usd", 0.0) + completion.cost_usd
        self.bus.emit("usage", **self.gateway.usage.to_dict())
        return completion

    async def expand(self, node_id: str, parent: Node | None, round_: int, style: str, critic: bool) -> Node | None:
        """Generate (or reuse), evaluate and optionally critique one node."""
        old = self._reuse(node_id)
        if old is not None and old.status == "critiqued" or (old is not None and old.status == "evaluated" and not critic):
            self._record(old)
            self.bus.emit("node_reused", node=old.id)
            return old
        node = old or Node(id=node_id, parent=parent.id if parent else None, round=round_, style=style)
        if not node.code and not node.raw_answer:
            messages = prompts.programmer_messages(self.task, style, parent, self._baseline_runtime())
            completion = await self._call(
                node, self.settings.model, messages,
                temperature=self.settings.temperature, seed=node_seed(self.settings.seed, node_id),
            )
            if completion is None:
                return None
            answer = parse_program(completion.text, self.task.entry_point, completion.finish_reason)
            node.raw_answer, node.reasoning, node.code, node.notes = completion.text, answer.reasoning, answer.code, answer.notes
        self._record(node)
        self.bus.emit("node_created", node=node.id, parent=node.parent, round=round_, style=style, notes=node.notes)
        if node.evaluation is None:
            node.evaluation = await self._evaluate(node.code)
            node.outcome_score = scoring.outcome_score(node.evaluation)
            node.status = "evaluated"
            self._record(node)
        ev = node.evaluation
        self.bus.emit(
            "node_evaluated", node=node.id, verdict=ev.verdict, passed=ev.passed, total=ev.total,
            runtime_s=ev.runtime_s, outcome_score=node.outcome_score,
        )
        if critic:
            await self.critique(node)
        return node

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
            node, self.settings.critic_model or self.settings.model, messages,
            temperature=0.0, seed=node_seed(self.settings.seed, node.id + "/critic"),
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
            "node_critiqued", node=node.id, process_score=node.process_score,
            fallback=node.critic_fallback, critique=node.critique[:200],
        )

    @property
    def critic_per_node(self) -> bool:
        return self.critic_on and self.settings.critic_mode != "round"

    async def critique_round(self, nodes: list[Node]) -> None:
        """critic_mode=round: one critic call scores every node of the round not yet reviewed;
        a node the answer gives no score falls back to its outcome score."""
        todo = [n for n in nodes if n.status == "evaluated" and n.id != "baseline"]
        if not todo:
            return
        if not self.critic_on:
            for node in todo:
                await self.critique(node)  # records the fallback
            return
        messages = round_critic_messages(self.task, todo, self._baseline_runtime())
        completion = await self._call(  # its usage is recorded on the round's first node
            todo[0], self.settings.critic_model or self.settings.model, messages, temperature=0.0,
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
                node.critique, node.process_score = parsed.critiques[i] or completion.text.strip(), score
                node.critic_fallback = score is None
                if score is None:
                    node.notes.append("round critic gave no score for it; used the outcome score")
                node.status = "critiqued"
            self._record(node)
            self.bus.emit("node_critiqued", node=node.id, process_score=node.process_score,
                          fallback=node.critic_fallback, critique=node.critique[:200])

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

    # -- strategies -------------------------------------------------------------------------
    def _done(self, nodes: list[Node]) -> bool:
        if self.settings.goal == "faster":
            return False  # speed has no natural finish line: use every round
        return any(scoring.is_satisfied(n) for n in nodes)

    async def _gather(self, jobs) -> list[Node]:
        results = await asyncio.gather(*jobs)
        return [n for n in results if n is not None]

    async def _round0(self, critic: bool) -> list[Node]:
        """Round 0: refinements of the user's code (when it has a real body), then fresh
        samples with distinct style hints. The refinements go first, as a batch, so the
        model's first request is always the user's code with its failing tests."""
        plan = self.plan
        if critic and not self.critic_per_node:
            nodes = await self._round0(False)
            await self.critique_round(nodes)
            return nodes
        refined = await self._gather(
            self.expand(f"0-{i}", self.baseline, 0, "refine the current code", critic) for i in range(plan.refine_start)
        )
        fresh = await self._gather(
            self.expand(f"0-{i}", None, 0, prompts.style_for(i - plan.refine_start), critic)
            for i in range(plan.refine_start, plan.samples)
        )
        return refined + fresh

    def _affordable(self, calls: int) -> bool:
        """Whether another round is paid for. Under a budget: while any of it is left (a
        round may be cut short by it). Otherwise: while the planned calls cover it, so the
        calls a switched-off critic did not use go to the programmer as extra rounds."""
        if self.plan.limit or self.settings.budget_tokens:
            left = self.gateway.calls_left()
            return not self.budget_hit and (left is None or left > 0)
        return self.gateway.usage.calls + calls <= self.plan.calls

    async def run_orps(self) -> str:
        plan, goal = self.plan, self.settings.goal
        pool = await self._round0(self.critic_on)
        self.bus.emit("round_done", round=0, nodes=len(pool))
        if not pool:
            return "budget" if self.budget_hit else "no_nodes"
        if self.baseline is not None and self.start == "user_code":
            pool.append(self.baseline)  # the root may still be the best node to refine
        round_ = 0
        while round_ < MAX_ROUNDS:
            if self._done(pool):
                return "satisfied"
            if self.budget_hit:
                return "budget"
            round_ += 1
            cost = plan.width * (2 if self.critic_per_node else 1) + (1 if self.critic_on and not self.critic_per_node else 0)
            if round_ > plan.rounds and not self._affordable(cost):
                return "budget" if self.gateway.calls_left() == 0 else "rounds"
            beam = scoring.select_beam(pool, plan.beam, goal)
            jobs = []
            for b, parent in enumerate(beam):
                for c in range(plan.children_each):
                    style = parent.style if parent.id != "baseline" else "refine the current code"
                    jobs.append(self.expand(f"{round_}-{b * plan.children_each + c}", parent, round_, style,
                                            self.critic_per_node))
            children = await self._gather(jobs)
            if self.critic_on and not self.critic_per_node:
                await self.critique_round(children)
            self.bus.emit("round_done", round=round_, nodes=len(children), beam=[n.id for n in beam])
            pool = beam + children
        return "rounds"

    async def run_best_of_n(self) -> str:
        s = self.settings
        n = self.plan.limit or s.samples
        done: list[Node] = []
        for start in range(0, n, s.concurrency):
            batch = range(start, min(n, start + s.concurrency))
            done += await self._gather(self.expand(f"0-{i}", None, 0, prompts.style_for(i), False) for i in batch)
            if any(node.all_passed for node in done) and s.goal != "faster":
                return "solved"
            if self.budget_hit:
                return "budget"
        return "samples"

    async def run_reflexion(self) -> str:
        s = self.settings
        steps = self.plan.limit or s.samples
        root = self.baseline if self.start == "user_code" else None
        node = await self.expand("0-0", root, 0, "refine the current code" if root else prompts.style_for(0), False)
        for step in range(1, steps):
            if node is None or self.budget_hit:
                return "budget"
            if node.all_passed and s.goal != "faster":
                return "solved"
            node = await self.expand(f"{step}-0", node, step, node.style, False) or node
        return "chain"

    async def run_rex(self) -> str:
        """REx: one refinement per step, of the node Thompson sampling picks; a step with
        nothing to refine yet (fresh start) draws a fresh sample."""
        s = self.settings
        rng = random.Random(s.seed)
        steps = self.plan.limit or s.samples * (s.rounds + 1)
        pool: list[Node] = [self.baseline] if self.start == "user_code" and self.baseline else []
        refined: dict[str, int] = {}
        for step in range(steps):
            if self.budget_hit:
                return "budget"
            if pool:
                parent = max(pool, key=lambda n: rng.betavariate(
                    1 + s.rex_c * n.pass_rate, 1 + s.rex_c * (1 - n.pass_rate) + refined.get(n.id, 0)))
                refined[parent.id] = refined.get(parent.id, 0) + 1
                style = parent.style if parent.id != "baseline" else "refine the current code"
                node = await self.expand(f"{step}-0", parent, step, style, False)
            else:
                node = await self.expand(f"{step}-0", None, step, prompts.style_for(step), False)
            if node is None:
                return "budget" if self.budget_hit else "no_nodes"
            pool.append(node)
            if node.all_passed and s.goal != "faster":
                return "solved"
        return "steps"

    async def run_single(self) -> str:
        await self.expand("0-0", None, 0, prompts.style_for(0), False)
        return "single"

    # -- the whole search -------------------------------------------------------------------
    async def _measure_baseline(self) -> None:
        """The unmodified target, run like every candidate: what a proposal must beat."""
        node = Node(id="baseline", parent=None, round=-1, style="original", code=self.task.original_code)
        node.evaluation = await self.evaluator.evaluate(self.task, node.code)
        if self.settings.goal == "faster":
            await self._remeasure(node)
        node.outcome_score = scoring.outcome_score(node.evaluation)
        node.status = "evaluated"
        self.baseline = node
        self._record(node)
        self.bus.emit("node_evaluated", node=node.id, verdict=node.evaluation.verdict, passed=node.evaluation.passed,
                      total=node.evaluation.total, runtime_s=node.evaluation.runtime_s, outcome_score=node.outcome_score)

    async def _remeasure(self, node: Node) -> None:
        """Replace one noisy runtime with the minimum of several (if the evaluator can)."""
        measure = getattr(self.evaluator, "measure_runtime", None)
        if measure is None or node.evaluation is None or not node.evaluation.all_passed:
            return
        runtime = await measure(self.task, node.code, RUNTIME_REPEATS)
        if runtime is not None:
            node.evaluation.runtime_s = runtime
            node.notes.append(f"runtime re-measured: min of {RUNTIME_REPEATS} runs")

    def _pick(self) -> Node | None:
        candidates = [n for n in self.tree if n.id != "baseline"]
        if self.settings.goal == "faster":
            ranked = sorted((n for n in candidates if n.evaluation), key=scoring.faster_key, reverse=True)
            return ranked[0] if ranked else None
        return scoring.best_node(candidates)

    async def _agree(self, best: Node | None) -> tuple[Node | None, dict]:
        """Agreement among the candidates tied on the public pass rate (search.agreement);
        recorded on the probed nodes, in an `agreement` event and in the result."""
        run = self.probes
        if run is None and self.task.kind == "asserts":
            run = agreement.evaluator_probes(self.evaluator)
        candidates = [n for n in self.tree if n.id != "baseline"]
        if run is None:
            report = agreement.AgreementReport(before=best.id if best else None, chosen=best.id if best else None,
                                               skipped="probes of a project's function need a probe runner")
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
        strategy = getattr(self, f"run_{self.settings.strategy}")
        self.bus.emit("run_started", task=self.task.id, strategy=self.settings.strategy, settings=self.settings.to_dict())
        status_override = None
        try:
            if self.task.original_code.strip():
                await self._measure_baseline()
                refines = self.settings.strategy in ("orps", "reflexion", "rex")  # the others sample fresh
                if refines and not is_stub(self.task.original_code, self.task.entry_point):
                    self.start = "user_code"
            self.plan = make_plan(self.settings, self.start)
            self.critic_on = self.plan.critic
            self.bus.emit("plan", **self.plan.to_dict(), text=self.plan.describe())
            stop_reason = await strategy()
            if self.settings.goal == "faster":
                ranked = sorted((n for n in self.tree if n.all_passed and n.id != "baseline"),
                                key=scoring.faster_key, reverse=True)
                for node in ranked[:3]:
                    await self._remeasure(node)
        except asyncio.CancelledError:
            stop_reason, status_override = "cancelled", "cancelled"
        best = self._pick()
        report = None
        if self.settings.agreement and self.settings.goal == "fix" and status_override is None:
            best, report = await self._agree(best)
        status = status_override or ("solved" if best and best.all_passed else "unsolved")
        result = SearchResult(status, stop_reason, best, self.tree, time.perf_counter() - started, self.baseline,
                              start=self.start, plan=self.plan.to_dict(), critic=dict(self.critic_stats),
                              agreement=report)
        self.on_change(self.tree)
        self.bus.emit("finished", **result.summary(), usage=self.gateway.usage.to_dict())
        return result
