"""The search tree: nodes holding reasoning, code, execution feedback, critique, scores.

Plain data. Node ids are deterministic (`<round>-<index>`), so a resumed search can
recognise the nodes it already has and a re-run with the same seed builds the same tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from search.types import Evaluation, Spend

ORIGINAL_ID = "baseline"
"""The node id of the unmodified function. Stored under this id in tree.json, events and
the `baseline` field of result documents, so older runs keep loading; users see it
everywhere as `original` (`node_name`), and `orps apply --node original` accepts it."""


def node_name(node_id: str) -> str:
    """The name users see for a node: `original` for the unmodified function, else its id."""
    return "original" if node_id == ORIGINAL_ID else node_id


@dataclass
class Node:
    id: str
    parent: str | None
    round: int
    style: str = ""
    reasoning: str = ""
    code: str = ""
    raw_answer: str = ""
    evaluation: Evaluation | None = None
    critique: str = ""
    process_score: float | None = None
    outcome_score: float = 0.0
    critic_fallback: bool = False
    """True when the critic's answer had no usable score and the outcome score stood in."""
    notes: list[str] = field(default_factory=list)
    """What went wrong while parsing this node's model output (recorded, never fatal)."""
    usage: Spend = field(default_factory=Spend)
    """The model calls made for this node (its program and its critique)."""
    status: str = "created"
    """created -> evaluated -> critiqued (or failed when the model call itself failed)."""
    agreement: float | None = None
    """Among candidates tied on the public pass rate: the share of the others that behave
    like this one on the probe inputs (0..1; None when not probed). See search.agreement."""
    probes: list[dict[str, Any]] = field(default_factory=list)
    """The probe inputs it ran on and what it did (`{"input": "f(2)", "output": "returns 4"}`)."""

    @property
    def pass_rate(self) -> float:
        return self.evaluation.pass_rate if self.evaluation else 0.0

    @property
    def all_passed(self) -> bool:
        return bool(self.evaluation and self.evaluation.all_passed)

    @property
    def runtime(self) -> float:
        ev = self.evaluation
        return ev.runtime_s if ev and ev.runtime_s is not None else math.inf

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evaluation"] = self.evaluation.to_dict() if self.evaluation else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        data = dict(data)
        ev = data.get("evaluation")
        data["evaluation"] = Evaluation.from_dict(ev) if ev else None
        data["usage"] = Spend.from_dict(data.get("usage") or {})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class SearchTree:
    """Nodes in creation order, with parent links."""

    def __init__(self, nodes: list[Node] | None = None):
        self.nodes: dict[str, Node] = {}
        for node in nodes or []:
            self.add(node)

    def add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        return node

    def get(self, node_id: str) -> Node | None:
        return self.nodes.get(node_id)

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchTree:
        return cls([Node.from_dict(n) for n in data.get("nodes", [])])
