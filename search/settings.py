"""Settings of one search: strategy, models, budgets. Plain data with documented fields.

Defaults follow the paper where a budget allows (samples=20, beam=3, rounds=5 in the
paper); `PRESETS` hold smaller shapes that fit a small local model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

STRATEGIES = ("orps", "best_of_n", "reflexion", "rex", "single")
EMBEDDED_MODEL = "local/smollm2"
"""The model orps ships (SmolLM2-135M-Instruct, run by llama.cpp in a child process)."""
EMBEDDED_CRITIC_NOTE = "the embedded model gives the critic no usable score; --critic-model MODEL for one"


@dataclass
class SearchSettings:
    strategy: str = "orps"
    """Which search: orps, best_of_n, reflexion, rex or single."""
    model: str = EMBEDDED_MODEL
    """Programmer model, any litellm name (`openai/gpt-4o-mini`, `ollama/qwen2.5-coder`...)."""
    critic_model: str = ""
    """Critic model; empty means the programmer model."""
    api_base: str = ""
    """Base URL passed to litellm (for local servers such as ollama or vLLM)."""
    samples: int = 4
    """Round-0 candidates (paper: 20)."""
    beam: int = 2
    """Nodes kept after each round (paper: 3)."""
    rounds: int = 3
    """Refinement rounds after round 0 (paper: 5)."""
    budget_calls: int = 0
    """Hard limit on model calls for the whole search (0 = none)."""
    budget_tokens: int = 0
    """Hard limit on prompt + completion tokens (0 = none)."""
    budget_usd: float = 0.0
    """Hard limit on cost in US dollars (0 = none)."""
    temperature: float = 0.8
    """Sampling temperature for the programmer (the critic uses 0)."""
    max_tokens: int = 768
    """Completion limit per call."""
    seed: int = 0
    """Base seed; each call derives its own from it so runs are reproducible."""
    concurrency: int = 4
    """Model calls in flight at once."""
    timeout_s: float = 10.0
    """Wall-clock limit of one candidate's test run."""
    memory_mb: int = 2048
    """Memory limit of one candidate's test run."""
    goal: str = "fix"
    """fix: make the tests pass. faster: keep them passing and reduce runtime."""
    min_speedup: float = 0.10
    """--goal faster: the least gain (0.10: 10% faster) a candidate must show, timed against
    the original and beyond the measuring noise, to be proposed."""
    cache: bool = True
    """Cache model responses on disk so a re-run with the same seed is free and identical."""
    critic: bool = True
    """Ask the critic model for a critique and process score (orps only)."""
    refine_share: float = 0.5
    """When the target has a real body: the share of round-0 candidates that refine it
    (the rest are fresh samples with style hints). Small models tend to copy code they are
    shown, so the default mixes both."""
    rex_c: float = 5.0
    """REx's exploration constant C (higher trusts the heuristic pass rate more)."""
    critic_mode: str = "node"
    """node: one critic call per node (the paper's); round: one call scores a whole round."""
    agreement: bool = False
    """Among candidates tied on the public pass rate, choose the one whose outputs on probe
    inputs derived from the public tests most of the others share (search.agreement)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> list[str]:
        """Return a list of problems, each naming the setting and its bad value."""
        problems = []
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy={self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        for name in ("samples", "beam", "max_tokens", "concurrency"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)!r}: must be at least 1")
        for name in ("rounds", "budget_calls", "budget_tokens", "budget_usd", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)!r}: must not be negative")
        if self.goal not in ("fix", "faster"):
            problems.append(f"goal={self.goal!r}: choose fix or faster")
        if not 0 <= self.min_speedup <= 100:
            problems.append(f"min_speedup={self.min_speedup!r}: must be between 0 and 100 (0.10 is 10%)")
        if self.timeout_s <= 0:
            problems.append(f"timeout_s={self.timeout_s!r}: must be positive")
        if self.memory_mb < 64:
            problems.append(f"memory_mb={self.memory_mb!r}: must be at least 64")
        if not 0 <= self.refine_share <= 1:
            problems.append(f"refine_share={self.refine_share!r}: must be between 0 and 1")
        if self.critic_mode not in ("node", "round"):
            problems.append(f"critic_mode={self.critic_mode!r}: choose node or round")
        if self.rex_c <= 0:
            problems.append(f"rex_c={self.rex_c!r}: must be positive")
        if not 0 <= self.temperature <= 2:
            problems.append(f"temperature={self.temperature!r}: must be between 0 and 2")
        return problems


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"samples": 20, "beam": 3, "rounds": 5},
    "small": {"samples": 4, "beam": 2, "rounds": 3},
    "tiny": {"samples": 2, "beam": 1, "rounds": 1},
}
