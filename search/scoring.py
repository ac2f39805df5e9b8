"""Scores and rankings, as in the ORPS paper's code.

outcome = pass_rate * (1 + 0.5 * static + 0.5 * dynamic), where `static` and `dynamic`
are means of 1 / (1 + x / scale) over the available metrics: smaller programs and
faster, leaner runs score higher, but only in proportion to how many tests pass.

Measured figures (runtime, memory) change from run to run, so they count only where
speed is the goal (`--goal faster`). For a fix the score and the ranking depend on the
code and its test outcomes alone, and the last tie-break is the node's id: the same seed
gives the same beam, the same answer and the same tree on every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from search.tree import Node
from search.types import Evaluation

# Scales: the value at which a metric halves its contribution.
STATIC_SCALES = {"cyclomatic": 10.0, "ast_nodes": 200.0, "loc": 50.0}
DYNAMIC_SCALES = {"runtime_s": 1.0, "peak_rss_mb": 200.0, "instructions": 1e9}

PROCESS_MIN, PROCESS_MAX = 1.0, 5.0
SATISFIED_SCORE = 4.0
"""The critic is satisfied with a node at this process score or above."""


def _mean_inverse(values: Mapping[str, float | None], scales: dict[str, float]) -> float:
    parts = [1.0 / (1.0 + max(0.0, float(v)) / scales[k]) for k, v in values.items() if k in scales and v is not None]
    return sum(parts) / len(parts) if parts else 0.0


def outcome_score(ev: Evaluation | None, measured: bool = True) -> float:
    """`measured`: let runtime and memory count (the goal is speed). Without them every
    candidate gets the dynamic part's full marks: the scale (and the critic's fallback,
    which reads it) stays the same, and the score is the same on every run of the code."""
    if ev is None or ev.total == 0:
        return 0.0
    static = _mean_inverse(ev.static, STATIC_SCALES)
    dynamic = 1.0
    if measured:
        dynamic = _mean_inverse(
            {"runtime_s": ev.runtime_s, "peak_rss_mb": ev.peak_rss_mb, "instructions": ev.instructions},
            DYNAMIC_SCALES,
        )
    return ev.pass_rate * (1.0 + 0.5 * static + 0.5 * dynamic)


def fallback_process_score(outcome: float) -> float:
    """Stand-in process score (1..5) from the outcome score (0..2) when the critic fails."""
    return PROCESS_MIN + (PROCESS_MAX - PROCESS_MIN) * min(1.0, outcome / 2.0)


UNCOUNTED_VERDICTS = ("suspicious", "tampered")
"""Runs whose passes are never counted: they passed the wrong way or tampered with the harness."""


def counted_passes(node: Node) -> int:
    """The tests this node passed, as the ranking counts them."""
    ev = node.evaluation
    if ev is None or ev.verdict in UNCOUNTED_VERDICTS:
        return 0
    return ev.passed


def process_of(node: Node) -> float:
    """The critic's process score, or its stand-in from the outcome score."""
    return node.process_score if node.process_score is not None else fallback_process_score(node.outcome_score)


def beam_key(node: Node) -> tuple[int, float, float]:
    """Beam ranking: passed tests first, then the process score, then the outcome score
    (higher is better). The critic reads text a candidate wrote (its reasoning, its output),
    so its score orders nodes only among those that pass as many tests: no critique can lift
    a node above one that passes more."""
    return (counted_passes(node), process_of(node), node.outcome_score)


def faster_key(node: Node) -> tuple[float, float, float]:
    """Ranking for --goal faster: every test passing first, then less runtime, then outcome."""
    return (1.0 if node.all_passed else node.pass_rate - 1.0, -node.runtime, node.outcome_score)


def final_key(node: Node) -> tuple[float, float]:
    """The answer of a fix: best pass rate, then outcome score (--goal faster ranks by
    `faster_key`)."""
    return (node.pass_rate, node.outcome_score)


def _id_key(node: Node) -> tuple[tuple[int, int, str], ...]:
    """`1-10` after `1-2`: the numeric parts of an id compare as numbers."""
    return _id_parts(node.id)


@lru_cache(maxsize=8192)
def _id_parts(node_id: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in node_id.split("-"))


def in_id_order(nodes: Iterable[Node]) -> list[Node]:
    """Evaluated nodes in a fixed order, whatever order concurrent work finished in, so
    that ties are broken the same way on every run (sorted and max keep the first)."""
    return sorted((n for n in nodes if n.evaluation is not None), key=_id_key)


def select_beam(nodes: list[Node], beam: int, goal: str = "fix") -> list[Node]:
    key = faster_key if goal == "faster" else beam_key
    return sorted(in_id_order(nodes), key=key, reverse=True)[:beam]


def best_node(nodes: list[Node]) -> Node | None:
    """The best evaluated node by `final_key`; of tied ones, the first in id order (as
    `in_id_order` sorts them), found without sorting: the live tree asks on every node."""
    keyed = [(final_key(n), n) for n in nodes if n.evaluation is not None]
    if not keyed:
        return None
    top = max(key for key, _ in keyed)
    return min((n for key, n in keyed if key == top), key=_id_key)


def is_satisfied(node: Node) -> bool:
    """Early stop: every test passes and the critic (or its fallback) is satisfied."""
    return node.all_passed and process_of(node) >= SATISFIED_SCORE
