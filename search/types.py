"""Plain data shared by the engine and the runners: tasks, test results, evaluations.

Everything here is a dataclass that round-trips through JSON (`to_dict`/`from_dict`),
so runs can be stored, resumed and shown by the TUI without importing the runners.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol, runtime_checkable

Verdict = Literal["passed", "failed", "timeout", "crashed", "tampered", "suspicious", "error"]
TaskKind = Literal["project", "asserts"]
Goal = Literal["fix", "faster"]


def _from_dict(cls, data: dict[str, Any]):
    """Build a dataclass from a dict, ignoring keys it does not know (forward compatible)."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Task:
    """One problem to solve.

    `kind="project"`: the target is a function in the user's project (`target` is
    `path::qualname` relative to `project`), `tests` are pytest node ids.
    `kind="asserts"`: a dataset problem; `tests` are assert statements run after
    `test_setup`, and the candidate is a whole module.
    `hidden_tests` are never shown to the search (benchmarks judge with them).
    """

    id: str
    problem: str
    entry_point: str
    kind: TaskKind = "asserts"
    signature: str = ""
    original_code: str = ""
    target: str = ""
    project: str = ""
    tests: list[str] = field(default_factory=list)
    tests_source: str = ""
    test_setup: str = ""
    hidden_tests: list[str] = field(default_factory=list)
    goal: Goal = "fix"
    reference_code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return _from_dict(cls, data)


@dataclass
class TestResult:
    """What happened to one test: outcome is passed, failed, error or skipped."""

    __test__ = False  # not a pytest test class

    id: str
    outcome: str
    message: str = ""
    duration_s: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestResult:
        return _from_dict(cls, data)


@dataclass
class Evaluation:
    """The outcome of running one candidate against a task's tests.

    `runtime_s` is the time spent in the tests' call phase summed over the tests
    (not process wall time, which start-up would dominate). `total` is the number of
    tests that were expected to run; a test that never reported counts as failed.
    """

    verdict: Verdict
    passed: int = 0
    total: int = 0
    tests: list[TestResult] = field(default_factory=list)
    runtime_s: float | None = None
    wall_s: float = 0.0
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    instructions: int | None = None
    static: dict[str, float] = field(default_factory=dict)
    isolation: str = ""
    message: str = ""
    output: str = ""

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def all_passed(self) -> bool:
        return self.verdict == "passed" and self.total > 0 and self.passed == self.total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        ev = _from_dict(cls, data)
        ev.tests = [TestResult.from_dict(t) if isinstance(t, dict) else t for t in ev.tests]
        return ev


@runtime_checkable
class Evaluator(Protocol):
    """Runs candidate code for a task. Implemented by `runners`, faked in tests.

    `hidden=True` judges against `task.hidden_tests` instead of `task.tests`; the
    search itself never asks for it.
    """

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False) -> Evaluation: ...
