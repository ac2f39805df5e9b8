"""The five search strategies, each a small object the engine runs: `STRATEGIES[name]`.

A strategy decides which nodes to expand and when to stop; the engine (`search.engine`)
does the rest: expanding a node (generate, evaluate, critique), the budget, the answer.
All of them run through the same `Search`, so they spend the same gateway, evaluator and
budget and their comparisons are fair.

- `orps`: round 0 mixes refinements of the user's code (when it has a real body) with
  fresh samples; each node is run and reviewed by the critic (critique + process score);
  the top `beam` by (process, outcome) survive; each survivor is refined into
  `children_each` children from its reasoning, code, execution feedback and critique;
  repeat for the planned rounds (and, when the critic gave up early, for as many more as
  its unused calls pay for), or stop when a node passes every test and the critic is
  satisfied.
- `best_of_n`: independent samples, the best on the public tests wins.
- `reflexion`: one chain of self-repair with test feedback and no critic (it starts by
  refining the user's code when there is some).
- `rex`: REx (arXiv 2405.17503): each step refines the node drawn by Thompson sampling
  from Beta(1 + C*h, 1 + C*(1 - h) + N), h its pass rate, N how often it was refined.
- `single`: one sample.

`run` returns the stop reason recorded in the result (`search.stop.StopReason`: satisfied,
rounds, budget, ...).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Protocol

from search import batching, prompts, round_stop, scoring
from search.stop import StopReason
from search.tree import ORIGINAL_ID, Node

if TYPE_CHECKING:
    from search.engine import Search

MAX_ROUNDS = 1000
"""A guard: a token budget always ends a search long before this."""
REFINE_STYLE = "refine the current code"
"""The style hint of a node refining the user's code (the baseline)."""


class Strategy(Protocol):
    name: ClassVar[str]
    refines: ClassVar[bool]
    """Whether it starts from the user's code when that has a real body (else: fresh samples)."""

    async def run(self, search: Search) -> StopReason:
        """Expand nodes through `search.expand` until done; return the stop reason."""
        ...


async def gather(jobs: Iterable[Awaitable[Node | None]], stop_when: Callable[[Node], bool] | None = None) -> list[Node]:
    """Expand concurrently; the nodes the budget cut off (None) are left out. Their model
    calls are one batch group (search.batching): a provider that batches sends them together.
    `stop_when`: the round ends at its first node for which it holds, the answers still being
    generated are cancelled (search.round_stop: the same nodes on every run)."""
    jobs = list(jobs)
    group = batching.Group(len(jobs))
    round_ = round_stop.Round(stop_when) if stop_when is not None else None
    results = await asyncio.gather(*(round_stop.seated(round_, group, job) for job in jobs))
    return [n for n in results if n is not None]


def ends_round(search: Search) -> Callable[[Node], bool] | None:
    """What ends an ORPS round early: a satisfying node (as `Orps.done` reads the round), when
    a node can be satisfying on its own; None when the goal is speed (no finish line) or the
    round critic scores the nodes only once the round is over."""
    if search.settings.goal == "faster" or (search.critic_on and not search.critic_per_node):
        return None
    return scoring.is_satisfied


def style_of_child(parent: Node) -> str:
    """A refinement keeps its parent's style hint; a refinement of the user's code says so."""
    return parent.style if parent.id != ORIGINAL_ID else REFINE_STYLE


def finished(search: Search, node: Node) -> bool:
    """A node passing every test ends the search early, unless the goal is speed (no finish line)."""
    return node.all_passed and search.settings.goal != "faster"


class Orps:
    name = "orps"
    refines = True

    async def run(self, search: Search) -> StopReason:
        plan, goal = search.plan, search.settings.goal
        pool = await self.round0(search, search.critic_on)
        search.bus.emit("round_done", round=0, nodes=len(pool))
        if not pool:
            return StopReason.BUDGET if search.budget_hit else StopReason.NO_NODES
        if search.baseline is not None and search.start == "user_code":
            pool.append(search.baseline)  # the root may still be the best node to refine
        round_ = 0
        while round_ < MAX_ROUNDS:
            if self.done(search, pool):
                return StopReason.SATISFIED
            if search.budget_hit:
                return StopReason.BUDGET
            round_ += 1
            # A per-node critic costs a call per child; the round critic one call per round.
            cost = plan.width * (2 if search.critic_per_node else 1) + (search.critic_on and not search.critic_per_node)
            if round_ > plan.rounds and not self.affordable(search, cost):
                return StopReason.BUDGET if search.gateway.calls_left() == 0 else StopReason.ROUNDS
            beam = scoring.select_beam(pool, plan.beam, goal)
            jobs = []
            for b, parent in enumerate(beam):
                for c in range(plan.children_each):
                    node_id = f"{round_}-{b * plan.children_each + c}"
                    jobs.append(search.expand(node_id, parent, round_, style_of_child(parent), search.critic_per_node))
            children = await gather(jobs, ends_round(search))
            if search.critic_on and not search.critic_per_node:
                await search.critique_round(children)
            search.bus.emit("round_done", round=round_, nodes=len(children), beam=[n.id for n in beam])
            pool = beam + children
        return StopReason.ROUNDS

    @staticmethod
    async def round0(search: Search, critic: bool) -> list[Node]:
        """Round 0: refinements of the user's code (when it has a real body), then fresh
        samples with distinct style hints, all expanded together: the embedded model takes
        them as one batch (one batch of 8 is faster than two of 4). The refinements are
        started first, so they are the first to claim the budget and, where the gateway
        limits concurrency, the first requests sent: the model's first request is always the
        user's code with its failing tests."""
        plan = search.plan
        if critic and not search.critic_per_node:  # the round critic: one call once the round is run
            nodes = await Orps.round0(search, False)
            await search.critique_round(nodes)
            return nodes
        return await gather(
            [search.expand(f"0-{i}", search.baseline, 0, REFINE_STYLE, critic) for i in range(plan.refine_start)]
            + [
                search.expand(f"0-{i}", None, 0, prompts.style_for(i - plan.refine_start), critic)
                for i in range(plan.refine_start, plan.samples)
            ],
            ends_round(search),
        )

    @staticmethod
    def done(search: Search, nodes: list[Node]) -> bool:
        if search.settings.goal == "faster":
            return False  # speed has no natural finish line: use every round
        return any(scoring.is_satisfied(n) for n in nodes)

    @staticmethod
    def affordable(search: Search, calls: int) -> bool:
        """Whether another round is paid for. Under a budget: while any of it is left (a
        round may be cut short by it). Otherwise: while the planned calls cover it, so the
        calls a switched-off critic did not use go to the programmer as extra rounds."""
        if search.plan.limit or search.settings.budget_tokens:
            left = search.gateway.calls_left()
            return not search.budget_hit and (left is None or left > 0)
        return search.gateway.usage.calls + calls <= search.plan.calls


class BestOfN:
    name = "best_of_n"
    refines = False

    async def run(self, search: Search) -> StopReason:
        s = search.settings
        n = search.plan.limit or s.samples
        done: list[Node] = []
        for start in range(0, n, s.concurrency):
            batch = range(start, min(n, start + s.concurrency))
            done += await gather(search.expand(f"0-{i}", None, 0, prompts.style_for(i), False) for i in batch)
            if any(finished(search, node) for node in done):
                return StopReason.SOLVED
            if search.budget_hit:
                return StopReason.BUDGET
        return StopReason.SAMPLES


class Reflexion:
    name = "reflexion"
    refines = True

    async def run(self, search: Search) -> StopReason:
        steps = search.plan.limit or search.settings.samples
        root = search.baseline if search.start == "user_code" else None
        node = await search.expand("0-0", root, 0, REFINE_STYLE if root else prompts.style_for(0), False)
        for step in range(1, steps):
            if node is None or search.budget_hit:
                return StopReason.BUDGET
            if finished(search, node):
                return StopReason.SOLVED
            node = await search.expand(f"{step}-0", node, step, node.style, False) or node
        return StopReason.CHAIN


class Rex:
    """REx: one refinement per step, of the node Thompson sampling picks; a step with
    nothing to refine yet (fresh start) draws a fresh sample."""

    name = "rex"
    refines = True

    async def run(self, search: Search) -> StopReason:
        s = search.settings
        rng = random.Random(s.seed)
        steps = search.plan.limit or s.samples * (s.rounds + 1)
        pool: list[Node] = [search.baseline] if search.start == "user_code" and search.baseline else []
        refined: dict[str, int] = {}
        for step in range(steps):
            if search.budget_hit:
                return StopReason.BUDGET
            if pool:
                parent = max(
                    pool,
                    key=lambda n: rng.betavariate(
                        1 + s.rex_c * n.pass_rate, 1 + s.rex_c * (1 - n.pass_rate) + refined.get(n.id, 0)
                    ),
                )
                refined[parent.id] = refined.get(parent.id, 0) + 1
                node = await search.expand(f"{step}-0", parent, step, style_of_child(parent), False)
            else:
                node = await search.expand(f"{step}-0", None, step, prompts.style_for(step), False)
            if node is None:
                return StopReason.BUDGET if search.budget_hit else StopReason.NO_NODES
            pool.append(node)
            if finished(search, node):
                return StopReason.SOLVED
        return StopReason.STEPS


class Single:
    name = "single"
    refines = False

    async def run(self, search: Search) -> StopReason:
        await search.expand("0-0", None, 0, prompts.style_for(0), False)
        return StopReason.SINGLE


# (the classes set `name` and `refines` as plain class attributes; the protocol declares them ClassVar)
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (Orps(), BestOfN(), Reflexion(), Rex(), Single())}  # type: ignore[misc]
"""By name; `search.settings.STRATEGIES` (what settings validation accepts) lists the same names."""


def get_strategy(name: str) -> Strategy:
    """The strategy called `name`; ValueError naming the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}") from None
