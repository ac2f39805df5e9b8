"""The round critic: one critic call scores a whole round of candidates.

The per-node critic (the paper's) pays one call per node; a round of four costs four
calls. The round critic shows the critic every node of the round at once, each with its
code and execution feedback, and asks for one line per candidate:
`Candidate K: Score: N/5 - critique`. The answer is read leniently (numbers in brackets,
`#K`, `Score N`, `N out of 5`; or, when the answer has exactly one score per candidate
and no labels, scores in order); a candidate left without a score falls back to its
outcome score, as with a malformed per-node answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from search.parsing import parse_critic
from search.prompts import UNTRUSTED_NOTE, feedback, render
from search.tree import Node
from search.types import Task

CODE_CHARS = 1500
"""Characters of each candidate's code shown (a round must fit a small model's context)."""
FEEDBACK_CHARS = 700

_LABEL = re.compile(
    r"(?im)^[\s>*#_-]*(?:candidate|solution|program|node)?\s*[#\[(]?\s*(\d{1,2})"
    r"(?:\s*[\])]\s*[:.\-]?|[\s*_]*[:.)\-])"
)
_SCORE = re.compile(
    r"(?i)(?:score\s*[:=]?\s*\**\s*\[?\s*([0-5](?:\.\d+)?)\s*(?:/\s*5)?|\b([0-5](?:\.\d+)?)\s*/\s*5\b"
    r"|\b([0-5](?:\.\d+)?)\s+out\s+of\s+5\b)"
)


def round_critic_messages(task: Task, nodes: list[Node], baseline_runtime: float | None = None) -> list[dict[str, str]]:
    parts = []
    for k, node in enumerate(nodes, 1):
        code = node.code.strip() or "(no code)"
        if len(code) > CODE_CHARS:
            code = code[:CODE_CHARS] + "\n# ... (cut)"
        parts.append(
            f"### Candidate {k}\n```python\n{code}\n```\nExecution feedback:\n"
            f"{feedback(node.evaluation, baseline_runtime, task.goal == 'faster', limit=FEEDBACK_CHARS)}"
        )
    user = render(
        "round_critic_user", problem=task.problem.strip(), candidates="\n\n".join(parts), count=str(len(nodes))
    )
    return [
        {"role": "system", "content": render("round_critic_system") + "\n" + UNTRUSTED_NOTE},
        {"role": "user", "content": user},
    ]


@dataclass
class RoundScores:
    scores: list[float | None]
    """Per candidate, in the order shown (None: no usable score for it)."""
    critiques: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return sum(s is not None for s in self.scores)


def _score_in(text: str) -> float | None:
    match = _SCORE.search(text)
    if not match:
        return None
    return min(5.0, max(1.0, float(next(g for g in match.groups() if g is not None))))


def parse_round_critic(text: str, count: int) -> RoundScores:
    """Scores for `count` candidates from one answer (see the module docstring)."""
    scores: list[float | None] = [None] * count
    critiques = [""] * count
    labels = [(m.start(), int(m.group(1))) for m in _LABEL.finditer(text)]
    for i, (start, k) in enumerate(labels):
        end = labels[i + 1][0] if i + 1 < len(labels) else len(text)
        if not 1 <= k <= count or scores[k - 1] is not None:
            continue  # a number that names no candidate, or a second verdict on one
        chunk = text[start:end].strip()
        score = _score_in(chunk)
        if score is not None:
            scores[k - 1], critiques[k - 1] = score, chunk
    notes = []
    if not any(s is not None for s in scores):
        # No labelled lines: exactly one score per candidate, in order, is still an answer.
        found = [line for line in text.splitlines() if _score_in(line) is not None]
        if len(found) == count:
            scores = [_score_in(line) for line in found]
            critiques = [line.strip() for line in found]
            notes.append("round critic: scores read in order (no candidate labels)")
        elif count == 1 and parse_critic(text).score is not None:
            scores, critiques = [parse_critic(text).score], [text.strip()]
    missing = [str(k + 1) for k, s in enumerate(scores) if s is None]
    if missing:
        notes.append(f"round critic gave no score for candidate(s) {', '.join(missing)}; used the outcome score")
    return RoundScores(scores, critiques, notes)
