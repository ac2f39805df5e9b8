"""Cross-checked: an independent second set of tests of the start from the user's
code, the budget plan, critic auto-off and REx (written apart from test_engine.py's).

A scripted model reads the prompts it receives: it writes the fix only when its prompt
shows the failing assertion's message, so only a feedback-aware refinement can solve."""

from __future__ import annotations

import pytest

from search.engine import Search
from search.events import EventBus
from search.gateway import Budget, Gateway, GatewayConfig
from search.parsing import is_stub
from search.plan import make_plan
from search.providers.scripted import register_script
from search.settings import SearchSettings
from search.types import Task
from tests.fakes import FakeEvaluator

BUGGY = "def norm(s):\n    return s.strip()\n"
FIXED = (
    "## Reasoning\nThe test wants lower case.\n\n## Code\n```python\ndef norm(s):\n    return s.strip().lower()\n```\n"
)
COPY = "## Reasoning\nStrip it.\n\n## Code\n```python\ndef norm(s):\n    return s.strip()\n```\n"
FAILING_MESSAGE = "assert norm(' AB ') == 'ab'"


def norm_task(original: str = BUGGY) -> Task:
    return Task(
        id="norm",
        problem="Normalise a name: strip spaces, lower case.",
        entry_point="norm",
        signature="def norm(s):",
        original_code=original,
        tests=["assert norm(' AB ') == 'ab'", "assert norm('x') == 'x'"],
    )


class Reader:
    """Right only when the failing assertion's message is in the prompt; the critic never scores."""

    def __init__(self):
        self.prompts: list[str] = []
        self.critic_calls = 0

    def __call__(self, messages, params):
        if messages[0]["content"].startswith("You are a strict code reviewer"):
            self.critic_calls += 1
            return "Hard to say."
        user = messages[-1]["content"]
        self.prompts.append(user)
        return FIXED if f"AssertionError: {FAILING_MESSAGE}" in user else COPY


def search_with(settings: SearchSettings, reader: Reader, name: str, task: Task | None = None) -> Search:
    register_script(name, reader)
    settings.model = f"scripted/{name}"
    gateway = Gateway(GatewayConfig(backoff_s=0), Budget(calls=settings.budget_calls, tokens=settings.budget_tokens))
    return Search(task or norm_task(), settings, gateway, FakeEvaluator(), EventBus())


async def test_first_request_shows_current_code_and_failing_assertion():
    reader = Reader()
    search = search_with(SearchSettings(samples=2, beam=1, rounds=0, critic=False), reader, "first")
    result = await search.run()
    first = reader.prompts[0]
    assert "return s.strip()" in first  # the function as it is now
    assert FAILING_MESSAGE in first  # and why its test fails
    assert result.start == "user_code"
    assert result.best.parent == "baseline" and result.status == "solved"
    fresh = [p for p in reader.prompts if "current code" not in p]
    assert fresh, "round 0 must mix fresh samples with refinements"


async def test_a_stub_gets_fresh_samples_only():
    reader = Reader()
    stub = 'def norm(s):\n    """Normalise."""\n    raise NotImplementedError\n'
    search = search_with(SearchSettings(samples=2, beam=1, rounds=0, critic=False), reader, "stub", norm_task(stub))
    result = await search.run()
    assert result.start == "fresh"
    assert not any("current code" in p for p in reader.prompts)


@pytest.mark.parametrize(
    "code, stub",
    [
        ("def f(x):\n    pass\n", True),
        ("def f(x):\n    ...\n", True),
        ("def f(x):\n    '''doc'''\n", True),
        ("def f(x):\n    raise NotImplementedError('later')\n", True),
        ("def f(x):\n    return x\n", False),
        ("def f(x:\n", False),
    ],
)
def test_stub_detection(code, stub):
    assert is_stub(code, "f") is stub


@pytest.mark.parametrize("strategy", ["orps", "rex"])
async def test_budget_of_4_solves_what_only_feedback_can(strategy):
    """No prior code to fix: the first sample is blind, only a refinement sees the failure."""
    reader = Reader()
    task = norm_task("")
    search = search_with(SearchSettings(strategy=strategy, budget_calls=4), reader, f"b4-{strategy}", task)
    result = await search.run()
    assert result.status == "solved"
    assert result.best.parent is not None  # a refinement, not a sample
    assert search.gateway.usage.calls <= 4
    assert result.plan["rounds"] >= 1 and result.plan["limit"] == 4


def test_plan_always_leaves_a_refinement_round():
    for calls in range(2, 60):
        for critic in (True, False):
            plan = make_plan(SearchSettings(budget_calls=calls, critic=critic))
            per_node = 2 if plan.critic else 1
            spent = (plan.samples + plan.rounds * plan.beam * plan.children_each) * per_node
            assert plan.rounds >= 1 and spent <= calls, (calls, critic, plan)


async def test_plan_is_recorded_and_announced():
    reader = Reader()
    search = search_with(SearchSettings(budget_calls=12), reader, "plan")
    events = []
    search.bus.subscribe(events.append)
    result = await search.run()
    assert result.summary()["plan"]["calls"] == 12
    plan_events = [e for e in events if e.kind == "plan"]
    assert plan_events and plan_events[0].data["start"] == "user_code"


async def test_critic_without_scores_is_switched_off_and_its_calls_go_to_the_programmer():
    reader = Reader()
    # a task that cannot be solved, so the whole budget is spent
    task = Task(id="never", problem="p", entry_point="norm", tests=["assert False, 'never'"])
    search = search_with(SearchSettings(budget_calls=24, samples=4, beam=2), reader, "critic", task)
    events = []
    search.bus.subscribe(events.append)
    result = await search.run()
    assert search.plan.critic  # 24 calls: the plan started with the critic
    assert reader.critic_calls < 6  # round 0's critiques at most, then none
    assert result.critic["disabled"] and any(e.kind == "critic_disabled" for e in events)
    assert search.gateway.usage.calls == 24  # the critic's share was spent on programmer calls
    assert len(reader.prompts) == 24 - reader.critic_calls
