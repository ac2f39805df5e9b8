"""Why a search ended: `StopReason`, the word `SearchResult.stop_reason` carries.

A `str` enum whose text is its value, so the JSON documents, the stored runs
(`.orps/runs/*/meta.json`, `result.json`) and the CLI's lines hold the same words as
before there was an enum, and a stored run (plain text once read back) compares equal.
"""

from __future__ import annotations

from enum import Enum


class StopReason(str, Enum):
    SATISFIED = "satisfied"
    SOLVED = "solved"
    ROUNDS = "rounds"
    STEPS = "steps"
    SAMPLES = "samples"
    CHAIN = "chain"
    SINGLE = "single"
    BUDGET = "budget"
    NO_NODES = "no_nodes"
    CANCELLED = "cancelled"
    PASSING = "passing"

    def __str__(self) -> str:  # the word, never `StopReason.BUDGET`, wherever it is printed
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def meaning(self) -> str:
        """What the word says, for a reader of a run."""
        return MEANINGS[self]

    @classmethod
    def read(cls, value: str) -> StopReason | str:
        """The reason a stored run names; its text unchanged when no member has it (a run
        written by a strategy this version does not know)."""
        try:
            return cls(value)
        except ValueError:
            return value


MEANINGS: dict[StopReason, str] = {
    StopReason.SATISFIED: "orps: a node passes every test and the critic is satisfied with it",
    StopReason.SOLVED: "a node passes every test",
    StopReason.ROUNDS: "orps: the planned rounds are done",
    StopReason.STEPS: "rex: the planned steps are done",
    StopReason.SAMPLES: "best_of_n: every sample is in",
    StopReason.CHAIN: "reflexion: the chain of repairs is done",
    StopReason.SINGLE: "single: its one sample is in",
    StopReason.BUDGET: "the budget (calls, tokens or cost) is spent",
    StopReason.NO_NODES: "nothing to go on: no candidate came back",
    StopReason.CANCELLED: "the search was stopped (Ctrl-C, the TUI, or a changed marker)",
    StopReason.PASSING: "your code already passes every test: nothing to fix (no model call made)",
}
