"""The round critic (search.round_critic): one call, a score per node, robust reading."""

from __future__ import annotations

from search.round_critic import parse_round_critic, round_critic_messages
from search.tree import Node
from search.types import Evaluation, Task


def test_prompt_lists_every_node_with_its_code_and_feedback():
    task = Task(id="t", problem="Add a and b.", entry_point="add", tests=["assert add(1, 2) == 3"])
    nodes = []
    for i, body in enumerate(["a - b", "a + b"]):
        node = Node(id=f"1-{i}", parent=None, round=1, code=f"def add(a, b):\n    return {body}\n")
        node.evaluation = Evaluation(verdict="failed" if i == 0 else "passed", passed=i, total=1)
        nodes.append(node)
    user = round_critic_messages(task, nodes)[1]["content"]
    assert "### Candidate 1" in user and "return a - b" in user and "### Candidate 2" in user
    assert "Passed 0 of 1" in user and "Passed 1 of 1" in user and "K from 1 to 2" in user


def test_a_good_answer_gives_each_candidate_its_score_and_critique():
    text = (
        "Candidate 1: Score: 2/5 - it subtracts.\n"
        "Candidate 2: Score: 5/5 - correct.\n"
        "Candidate 3: Score: 3/5 - slow loop.\n"
    )
    parsed = parse_round_critic(text, 3)
    assert parsed.scores == [2.0, 5.0, 3.0] and parsed.usable == 3
    assert "subtracts" in parsed.critiques[0] and "slow" in parsed.critiques[2]
    assert parsed.notes == []


def test_lenient_labels_and_out_of_range_scores():
    text = "**Candidate #2**: 4 out of 5, fine\n[1] Score 0/5 wrong\n"
    parsed = parse_round_critic(text, 2)
    assert parsed.scores == [1.0, 4.0]  # clamped to 1..5


def test_a_malformed_answer_falls_back_for_the_candidates_it_misses():
    parsed = parse_round_critic("These all look like reasonable attempts at the problem.", 3)
    assert parsed.scores == [None, None, None] and parsed.usable == 0
    assert "no score for candidate(s) 1, 2, 3" in parsed.notes[0]
    partial = parse_round_critic("Candidate 2: Score: 3/5 ok\nCandidate 9: Score: 5/5", 3)
    assert partial.scores == [None, 3.0, None]
    assert "candidate(s) 1, 3" in partial.notes[-1]


def test_unlabelled_scores_in_order_count_only_when_there_is_one_per_candidate():
    assert parse_round_critic("Score: 2/5\nScore: 4/5\n", 2).scores == [2.0, 4.0]
    assert parse_round_critic("Score: 2/5\n", 2).scores == [None, None]


# -- in the engine, with the scripted model ----------------------------------------------------

from search.engine import Search  # noqa: E402
from search.events import EventBus  # noqa: E402
from search.gateway import Budget, Gateway, GatewayConfig  # noqa: E402
from search.providers.scripted import register_script  # noqa: E402
from search.settings import SearchSettings  # noqa: E402
from tests.fakes import FakeEvaluator  # noqa: E402

WRONG = "## Reasoning\nSubtract.\n\n## Code\n```python\ndef add(a, b):\n    return a - b\n```\n"
RIGHT = "## Reasoning\nAdd.\n\n## Code\n```python\ndef add(a, b):\n    return a + b\n```\n"


def add_task() -> Task:
    return Task(
        id="add",
        problem="Return the sum of a and b.",
        entry_point="add",
        tests=["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
    )


class RoundScript:
    """Programmer: wrong at first, right once it saw feedback. Critic: one round answer."""

    def __init__(self, critic_answer: str):
        self.critic_answer = critic_answer
        self.critic_prompts: list[str] = []

    def __call__(self, messages, params):
        user = messages[-1]["content"]
        if messages[0]["content"].startswith("You are a strict code reviewer"):
            self.critic_prompts.append(user)
            return self.critic_answer
        return RIGHT if "Execution feedback" in user else WRONG


def round_search(name: str, script: RoundScript, **settings) -> Search:
    register_script(name, script)
    s = SearchSettings(samples=3, beam=1, rounds=1, critic_mode="round", model=f"scripted/{name}", **settings)
    return Search(
        add_task(), s, Gateway(GatewayConfig(backoff_s=0), Budget(calls=s.budget_calls)), FakeEvaluator(), EventBus()
    )


async def test_one_critic_call_scores_the_whole_round():
    script = RoundScript(
        "Candidate 1: Score: 1/5 - subtracts\nCandidate 2: Score: 2/5 - subtracts\n"
        "Candidate 3: Score: 3/5 - subtracts too"
    )
    result = await round_search("round-good", script).run()
    assert "### Candidate 3" in script.critic_prompts[0]  # round 0 in one call
    round0 = [result.tree.get(f"0-{i}") for i in range(3)]
    assert [n.process_score for n in round0] == [1.0, 2.0, 3.0]
    assert not any(n.critic_fallback for n in round0) and all(n.status == "critiqued" for n in round0)
    assert "subtracts too" in round0[2].critique
    assert result.critic["round_calls"] == len(script.critic_prompts) == 2  # round 0 and round 1
    assert result.critic["usable"] == result.critic["calls"] >= 3
    assert result.status == "solved"


async def test_a_malformed_round_answer_falls_back_to_outcome_scores_and_switches_the_critic_off():
    script = RoundScript("I think these are all fine attempts.")
    result = await round_search("round-bad", script, budget_calls=12).run()
    round0 = [result.tree.get(f"0-{i}") for i in range(3)]
    assert all(n.critic_fallback and n.process_score is None for n in round0)
    assert any("outcome score" in note for n in round0 for note in n.notes)
    assert result.critic["disabled"] and len(script.critic_prompts) == 1  # no second try after 3 misses
    assert result.status == "solved"  # the refinement still ran, ranked by outcome


def test_the_plan_keeps_one_call_per_round_for_the_round_critic():
    from search.plan import make_plan

    for budget in (8, 12, 24):
        plan = make_plan(SearchSettings(budget_calls=budget, critic_mode="round"))
        assert plan.critic and plan.rounds >= 1
        assert plan.samples + plan.rounds * plan.width + plan.rounds + 1 <= budget
        per_node = make_plan(SearchSettings(budget_calls=budget))
        assert plan.samples + plan.rounds * plan.width >= per_node.samples + per_node.rounds * per_node.width
