"""How a search spends its budget: samples, beam, rounds and critic use, from the limits.

Without a budget the plan is the settings' shape as written. With `--budget-calls` or
`--budget-tokens` the shape is derived so that, whatever the settings say, about half
the programmer calls are left for refinement: a round 0 that passes nothing is always
followed by at least one round that sees the execution feedback. At very small budgets
the critic is switched off, since each critic call costs a programmer call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from search.settings import SearchSettings

PROMPT_TOKENS_GUESS = 700
"""Prompt tokens of a typical call, to turn a token budget into a number of calls."""
CRITIC_MIN_CALLS = 8
"""Below this many calls the critic is off: it would take half of a budget this small."""


@dataclass
class Plan:
    samples: int
    """Round-0 candidates."""
    beam: int
    children_each: int
    """Children per beam node in each refinement round."""
    rounds: int
    critic: bool
    calls: int
    """Calls the plan expects to spend (with the critic on, half of them are its)."""
    limit: int = 0
    """The call limit the budget sets (0 = no call or token budget)."""
    refine_start: int = 0
    """Of the round-0 candidates, how many refine the user's code (the rest are fresh)."""
    start: str = "fresh"
    """user_code: round 0 refines the current code (and samples fresh); fresh: samples only."""
    reason: str = ""
    strategy: str = "orps"
    """The other strategies use only `limit` (their number of calls) and `start`."""

    @property
    def width(self) -> int:
        return self.beam * self.children_each

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.strategy != "orps":
            refines_code = self.start == "user_code" and self.strategy in ("reflexion", "rex")
            origin = "from your code" if refines_code else "from fresh samples"
            return f"plan: {self.strategy} {origin}, " + (
                f"{self.limit} calls (the budget)" if self.limit else "calls from the settings"
            )
        fresh = self.samples - self.refine_start
        first = (
            f"{self.samples} samples ({self.refine_start} refining your code, {fresh} fresh)"
            if self.start == "user_code"
            else f"{self.samples} fresh samples"
        )
        text = (
            f"plan: {first}, then {self.rounds} refinement round(s) of {self.width} "
            f"(beam {self.beam}), critic {'on' if self.critic else 'off'}"
        )
        text += f", {self.calls} calls" + (" (the budget)" if self.limit else "")
        return text + (f" ({self.reason})" if self.reason else "")


def call_limit(settings: SearchSettings) -> int:
    """The most model calls the budget allows (0 = no call or token limit)."""
    limits = []
    if settings.budget_calls:
        limits.append(settings.budget_calls)
    if settings.budget_tokens:
        limits.append(max(1, settings.budget_tokens // (PROMPT_TOKENS_GUESS + settings.max_tokens)))
    return min(limits) if limits else 0


def refine_count(samples: int, share: float, start: str) -> int:
    """Round-0 candidates that refine the user's code: `share` of them, at least one
    (none when `share` is 0: fresh samples only, as the paper does)."""
    if start != "user_code" or share <= 0:
        return 0
    return min(samples, max(1, round(samples * share)))


def make_plan(settings: SearchSettings, start: str = "fresh") -> Plan:
    """The shape of an orps search within the budget (the other strategies record theirs too)."""
    limit = call_limit(settings)
    critic = settings.critic and settings.strategy == "orps"
    if not limit:
        children = max(1, settings.samples // settings.beam)
        beam = min(settings.beam, settings.samples)
        programmer = settings.samples + settings.rounds * beam * children
        if critic and settings.critic_mode == "round":
            calls = programmer + settings.rounds + 1
        else:
            calls = programmer * (2 if critic else 1)
        plan = Plan(settings.samples, beam, children, settings.rounds, critic, calls, start=start)
    else:
        reason = ""
        if critic and limit < CRITIC_MIN_CALLS:
            critic, reason = False, f"critic off: {limit} calls are too few to share with it"
        round_critic = critic and settings.critic_mode == "round"
        nodes = max(1, limit // (2 if critic and not round_critic else 1))
        for _ in range(4 if round_critic else 1):  # one critic call per round: settle the split
            samples = max(1, min(settings.samples, (nodes + 1) // 2))
            rest = nodes - samples
            beam = max(1, min(settings.beam, samples, rest or 1))
            children = max(1, min(samples // beam, rest // beam if rest >= beam else 1))
            rounds = rest // (beam * children) if rest else 0
            if round_critic:
                nodes = max(1, limit - (rounds + 1))
        plan = Plan(samples, beam, children, rounds, critic, limit, limit=limit, start=start, reason=reason)
    plan.refine_start = refine_count(plan.samples, settings.refine_share, start)
    plan.strategy = settings.strategy
    return plan
