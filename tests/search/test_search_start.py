"""Start from the user's code, a plan from the budget, a critic that gives up,
REx. Scripted model and in-process evaluator; every test reads the prompts the model got."""

from __future__ import annotations

import pytest

from search.parsing import is_stub
from search.plan import make_plan
from search.providers.scripted import register_script
from search.session import run_search
from search.settings import SearchSettings
from search.store import RunDir
from tests.fakes import FakeEvaluator
from tests.search.test_engine import WRONG, Script, add_task, make_search

BUGGY = 'def add(a, b):\n    """Return the sum."""\n    return a - b\n'


def buggy_task():
    task = add_task()
    task.original_code = BUGGY
    return task


async def test_first_request_shows_the_current_code_and_the_failing_assertion():
    script = Script()
    search = make_search(SearchSettings(samples=2, beam=1, rounds=1, critic=False), script, "start")
    search.task = buggy_task()
    result = await search.run()
    first = script.prompts[0]
    assert "return a - b" in first and "AssertionError: assert add(1, 2) == 3" in first
    assert result.start == "user_code" and result.status == "solved"
    assert search.tree.get("0-0").parent == "baseline"
    assert "Style:" in script.prompts[1]  # the mix: the other round-0 candidate is a fresh sample


@pytest.mark.parametrize("body", ["pass", "...", "raise NotImplementedError", "raise NotImplementedError('todo')", ""])
def test_stub_bodies_are_detected(body):
    code = f'def add(a, b):\n    """Return the sum."""\n    {body}\n'
    assert is_stub(code, "add")
    assert not is_stub(BUGGY, "add")


async def test_a_stub_gets_fresh_samples_only():
    script = Script()
    search = make_search(SearchSettings(samples=2, beam=1, rounds=1, critic=False), script, "stub")
    search.task = add_task()
    search.task.original_code = "def add(a, b):\n    raise NotImplementedError\n"
    result = await search.run()
    assert result.start == "fresh"
    assert all("Style:" in p for p in script.prompts[:2])


@pytest.mark.parametrize("strategy", ["orps", "rex"])
@pytest.mark.parametrize("user_code", [False, True])
async def test_four_calls_solve_a_task_only_feedback_can_solve(strategy, user_code):
    # The script answers right only when its prompt holds the failing assertion's message.
    script = Script()
    search = make_search(SearchSettings(strategy=strategy, budget_calls=4), script, f"four-{strategy}-{user_code}")
    if user_code:
        search.task = buggy_task()
    result = await search.run()
    assert result.status == "solved"
    assert search.gateway.usage.calls <= 4
    assert result.best.code.strip().endswith("return a + b")


async def test_best_of_n_cannot_solve_it_at_the_same_budget():
    search = make_search(SearchSettings(strategy="best_of_n", budget_calls=4), Script(), "four-bon")
    assert (await search.run()).status == "unsolved"


def test_plan_leaves_a_refinement_round_at_every_budget():
    for calls in range(2, 40):
        plan = make_plan(SearchSettings(budget_calls=calls))
        assert plan.rounds >= 1, calls
        per_node = 2 if plan.critic else 1
        assert (plan.samples + plan.rounds * plan.width) * per_node <= calls
    assert not make_plan(SearchSettings(budget_calls=4)).critic  # too few calls to share
    plan = make_plan(SearchSettings(budget_calls=4), start="user_code")
    assert (plan.samples, plan.refine_start, plan.rounds) == (2, 1, 1)


async def test_plan_start_and_critic_are_recorded(tmp_path):
    prompts: list[str] = []

    def script(messages, params):  # a programmer never right, a critic never scoring
        prompts.append(messages[-1]["content"])
        return "I cannot say." if "reviewer" in messages[0]["content"] else WRONG

    run = RunDir.create(tmp_path, "r1")
    register_script("rec", script)
    settings = SearchSettings(samples=4, beam=2, rounds=2, model="scripted/rec", cache=False)
    task = buggy_task()
    result = await run_search(task, settings, FakeEvaluator(), run)
    doc = run.read("result.json")
    assert doc["start"] == "user_code"
    assert doc["plan"]["samples"] == 4 and doc["plan"]["refine_start"] == 2 and doc["plan"]["critic"] is True
    assert doc["critic"]["usable"] == 0 and "no usable score" in doc["critic"]["disabled"]
    kinds = [e["kind"] for e in run.events()]
    assert "plan" in kinds and kinds.count("critic_disabled") == 1
    # Round 0's four critic calls were in flight together; none after it was switched off,
    # and its calls went to the programmer: more programmer calls than the plan's 4 + 2*4.
    critic = sum("Score: N/5" in p for p in prompts)
    assert critic == 4
    programmer_calls = len(prompts) - critic
    assert programmer_calls > 4 + 2 * 4
    assert result.summary()["critic"]["calls"] == 4


async def test_a_critic_that_scores_stays_on():
    script = Script(critic="Fine.\nScore: 3/5", fixable=False)
    search = make_search(SearchSettings(samples=2, beam=1, rounds=2), script, "scoring-critic")
    result = await search.run()
    assert result.critic["disabled"] == "" and result.critic["usable"] == result.critic["calls"] == 6
