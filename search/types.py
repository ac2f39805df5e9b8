"""What the engine exchanges with the world: plain data and the two protocols it needs.

Data: tasks, test results, evaluations, model completions and usage. Each is a dataclass
that round-trips through JSON (`to_dict`/`from_dict`), so runs can be stored, resumed
and shown by the TUI without importing the runners.

Protocols: `Evaluator` (runs candidate code; implemented by `runners`) and `ModelClient`
(answers prompts within a budget; implemented by `search.gateway.Gateway`). The engine
types against these two, so tests and benchmarks pass any object that has the methods.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

Verdict = Literal["passed", "failed", "timeout", "crashed", "tampered", "suspicious", "error"]
TaskKind = Literal["project", "asserts"]
Goal = Literal["fix", "faster"]


_D = TypeVar("_D")


def _from_dict(cls: type[_D], data: dict[str, Any]) -> _D:
    """Build a dataclass from a dict, ignoring keys it does not know (forward compatible)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
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
    equivalence: dict[str, Any] | None = None
    """--goal faster: how the candidate's answers to the calls recorded from the original
    compare (`runners.speed.equivalence.Report.to_dict`); None when not checked."""
    speed: dict[str, Any] | None = None
    """--goal faster: the candidate timed against the original, interleaved (`runners.speed.timing`)."""

    def __post_init__(self) -> None:
        # A verdict and its counts always agree: "passed" means every expected test passed.
        # Whatever produced this (a plugin record a candidate forged, a stored result from an
        # older version), a "passed" with fewer passes than tests, or with no test, is failed.
        if self.verdict == "passed" and not (self.total > 0 and self.passed == self.total):
            self.verdict = "failed"
            note = f"verdict corrected: reported passed with {self.passed} of {self.total} tests passing"
            self.message = f"{self.message}\n{note}".strip() if self.message else note

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

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        """The least runtime of `repeats` runs of code that passes every test; None when
        it fails a test or the evaluator cannot measure (the first runtime then stands)."""
        ...


class BudgetExceeded(Exception):
    """The next call would go past the run's budget; the search keeps what it has."""


@dataclass
class Completion:
    """One model answer with its accounting."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    finish_reason: str = ""
    cached: bool = False
    retries: int = 0
    batch_order: int | None = None
    """From a batch of the embedded model: where this answer came among the batch's answers
    (0: it ended first); the same on every run of the same batch. Never read from the cache."""


@dataclass
class Spend:
    """Model calls and what they cost: a node's (what was asked for it) and, inside
    `Usage`, a run's. A cached answer is a call like any other."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spend:
        return _from_dict(cls, data)

    def add(self, spent: Completion | Spend) -> None:
        """Count one answer, or everything another Spend counted."""
        self.calls += spent.calls if isinstance(spent, Spend) else 1
        self.prompt_tokens += spent.prompt_tokens
        self.completion_tokens += spent.completion_tokens
        self.cost_usd += spent.cost_usd


@dataclass
class Usage(Spend):
    """What a run has spent so far, and how its calls went. Cached answers count toward
    the budget (so a re-run makes the same decisions) but cost nothing."""

    cached_calls: int = 0
    retries: int = 0
    errors: int = 0

    def add(self, spent: Completion | Spend) -> None:
        super().add(spent)
        if isinstance(spent, Completion):
            self.cached_calls += int(spent.cached)
            self.retries += spent.retries


@runtime_checkable
class ModelClient(Protocol):
    """What the engine needs of a model gateway. Implemented by `search.gateway.Gateway`.

    `complete` raises `BudgetExceeded` when the call does not fit the budget (nothing is
    sent); `usage` counts every answer given; `calls_left` is None without a call budget.
    """

    usage: Usage

    async def complete(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
        stop: list[str] | None = None,
        code_for: str | None = None,
    ) -> Completion: ...

    def calls_left(self) -> int | None: ...
