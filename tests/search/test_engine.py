"""The ORPS engine with the scripted model and an in-process evaluator: proves the algorithm."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from search.engine import Search
from search.events import EventBus
from search.gateway import Budget, Gateway, GatewayConfig
from search.providers.scripted import register_script
from search.scoring import select_beam
from search.session import run_search
from search.settings import SearchSettings
from search.store import RunDir
from search.tree import Node
from search.types import Evaluation, Task
from tests.fakes import FakeEvaluator

WRONG = "## Reasoning\nSubtract, probably.\n\n## Code\n```python\ndef add(a, b):\n    return a - b\n```\n"
RIGHT = "## Reasoning\nThe feedback says 1 - 2 is not 3: add instead.\n\n## Code\n```python\ndef add(a, b):\n    return a + b\n```\n"


def add_task() -> Task:
    return Task(
        id="add",
        problem="Return the sum of a and b.",
        entry_point="add",
        signature="def add(a, b):",
        tests=["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"],
        hidden_tests=["assert add(5, 5) == 10"],
    )


class Script:
    """Programmer: wrong on first sight, right once it has seen the failing test.
    Critic: a fixed answer. Records every prompt it was sent."""

    def __init__(self, critic: str = "Looks fine.\nScore: 5/5", fixable: bool = True, right_at_once: bool = False):
        self.critic = critic
        self.fixable = fixable
        """False: the programmer never gets it right (only a budget ends the search)."""
        self.right_at_once = right_at_once
        """True: the programmer is right on first sight (the critic alone decides when to stop)."""
        self.prompts: list[str] = []
        self.critiques = 0

    def __call__(self, messages, params):
        user = messages[-1]["content"]
        self.prompts.append(user)
        if messages[0]["content"].startswith("You are a strict code reviewer"):
            self.critiques += 1
            if "return a - b" in user:
                return "It subtracts instead of adding.\nScore: 1/5"
            return self.critic
        if self.right_at_once:
            return RIGHT
        if self.fixable and "Execution feedback" in user and "assert add(1, 2) == 3" in user:
            return RIGHT
        return WRONG


def make_search(settings: SearchSettings, script: Script, name: str = "t", cache_dir: str = "", tree=None):
    register_script(name, script)
    settings.model = f"scripted/{name}"
    budget = Budget(calls=settings.budget_calls, tokens=settings.budget_tokens)
    gateway = Gateway(GatewayConfig(cache_dir=cache_dir, backoff_s=0), budget)
    return Search(add_task(), settings, gateway, FakeEvaluator(), EventBus(), tree)


async def test_refinement_prompt_carries_failing_test_and_critique():
    script = Script()
    search = make_search(SearchSettings(samples=2, beam=1, rounds=1), script)
    result = await search.run()
    refine = [p for p in script.prompts if "Your previous code" in p]
    assert refine, "no refinement prompt was sent"
    assert "assert add(1, 2) == 3" in refine[0]  # the failing test's message
    assert "It subtracts instead of adding." in refine[0]  # the critic's critique
    assert result.status == "solved"
    assert result.best.round == 1 and "a + b" in result.best.code


def _node(node_id, process, outcome, passed=1, total=2):
    node = Node(id=node_id, parent=None, round=0, process_score=process, outcome_score=outcome)
    node.evaluation = Evaluation(verdict="failed", passed=passed, total=total)
    return node


def test_beam_keeps_best_by_process_then_outcome():
    nodes = [_node("a", 2, 1.5), _node("b", 4, 0.1), _node("c", 4, 0.9), _node("d", None, 2.0), _node("e", 1, 1.9)]
    kept = [n.id for n in select_beam(nodes, 3)]
    # d has no critic score: its outcome 2.0 stands in as process 5.0.
    assert kept == ["d", "c", "b"]


def test_beam_for_speed_prefers_passing_then_faster():
    slow = _node("slow", 5, 1.0, passed=2)
    slow.evaluation.verdict, slow.evaluation.runtime_s = "passed", 0.5
    fast = _node("fast", 3, 1.0, passed=2)
    fast.evaluation.verdict, fast.evaluation.runtime_s = "passed", 0.01
    failing = _node("failing", 5, 1.9, passed=1)
    assert [n.id for n in select_beam([slow, failing, fast], 3, goal="faster")] == ["fast", "slow", "failing"]


async def test_early_stop_when_solved_and_critic_satisfied():
    script = Script(critic="Score: 5/5", right_at_once=True)
    search = make_search(SearchSettings(samples=3, beam=2, rounds=4), script)
    result = await search.run()
    assert result.stop_reason == "satisfied"
    assert {n.round for n in result.tree} == {0}
    assert search.gateway.usage.calls == 6  # 3 samples + 3 critiques, then stop
    assert script.critiques == 3 and all(n.process_score == 5.0 for n in result.tree if n.round == 0)


@pytest.mark.parametrize("budget", [1, 4, 5, 7])
async def test_call_budget_holds_exactly(budget):
    script = Script(critic="meh", fixable=False)  # never right, so only the budget stops it
    search = make_search(SearchSettings(samples=4, beam=2, rounds=10, budget_calls=budget), script)
    result = await search.run()
    assert search.gateway.usage.calls == budget
    assert len(script.prompts) == budget
    # the whole budget is spent: the plan's rounds, then more while calls are left
    assert result.stop_reason == "budget"


async def test_token_budget_stops_the_search():
    script = Script(critic="meh", fixable=False)
    search = make_search(SearchSettings(samples=2, beam=1, rounds=10, budget_tokens=400), script)
    result = await search.run()
    assert result.stop_reason == "budget"
    # the call that crossed the limit was cut to the tokens left
    assert search.gateway.usage.tokens <= 400 + max(len(p.split()) for p in script.prompts) + 60


async def test_malformed_critic_falls_back_to_outcome_score():
    script = Script(critic="I have thoughts but no number.", right_at_once=True)
    result = await make_search(SearchSettings(samples=2, beam=1, rounds=2), script).run()
    assert script.critiques == 2  # the critic was asked about each sample and gave no score
    for node in result.tree:
        assert node.process_score is None and node.critic_fallback
        assert any("no score" in note for note in node.notes)
    # The outcome score stands in (3/3 tests, so satisfied): the search ends early.
    assert result.status == "solved" and result.stop_reason == "satisfied"


def _comparable(tree):
    """The nodes by id: concurrent nodes may finish (and be recorded) in any order."""
    out = []
    for n in sorted(tree, key=lambda node: node.id):
        d = n.to_dict()
        d["evaluation"].pop("wall_s", None)
        out.append(d)
    return out


async def test_same_seed_and_cache_give_identical_tree(tmp_path):
    calls = []

    def seeded(messages, params):
        calls.append(params.get("seed"))
        if "reviewer" in messages[0]["content"]:
            return f"Score: {params['seed'] % 3 + 1}/5"
        op = "+" if params["seed"] % 2 else "-"
        return f"```python\ndef add(a, b):\n    return a {op} b\n```"

    register_script("seeded", seeded)
    trees = []
    for _ in range(2):
        settings = SearchSettings(samples=3, beam=2, rounds=2, seed=7, model="scripted/seeded")
        gw = Gateway(GatewayConfig(cache_dir=str(tmp_path / "cache")))
        result = await Search(add_task(), settings, gw, FakeEvaluator()).run()
        trees.append(_comparable(result.tree))
    assert trees[0] == trees[1]
    assert len(calls) == len(trees[0]) * 2  # the second run was served from the cache alone


class JitteryEvaluator(FakeEvaluator):
    """Measured figures that differ on every run, and results that come back in a
    different order each time, as on a busy machine."""

    def __init__(self, rng):
        super().__init__()
        self.rng = rng

    async def evaluate(self, task, code, *, hidden=False):
        await asyncio.sleep(self.rng.random() / 200)
        ev = await super().evaluate(task, code, hidden=hidden)
        ev.runtime_s = 0.002 * self.rng.uniform(0.8, 1.25)
        ev.peak_rss_mb = 40 * self.rng.uniform(0.9, 1.1)
        return ev


async def test_same_seed_gives_the_same_tree_and_prompts_without_the_cache_however_measurements_vary():
    variants = ["a - b", "a + b", "b + a", "sum((a, b))", "a * b"]

    def seeded(messages, params):
        prompts_seen.append(messages[-1]["content"])
        if "reviewer" in messages[0]["content"]:
            return f"Score: {params['seed'] % 2 + 3}/5"
        body = variants[params["seed"] % len(variants)]
        return f"```python\ndef add(a, b):\n    return {body}\n```"

    register_script("seeded-jitter", seeded)
    runs = []
    for rng_seed in (1, 2):
        prompts_seen: list[str] = []
        settings = SearchSettings(samples=4, beam=2, rounds=2, seed=7, model="scripted/seeded-jitter", cache=False)
        gw = Gateway(GatewayConfig(concurrency=4))
        result = await Search(add_task(), settings, gw, JitteryEvaluator(random.Random(rng_seed))).run()
        tree = [{k: v for k, v in d.items() if k != "evaluation"} for d in _comparable(result.tree)]
        runs.append((tree, sorted(prompts_seen), result.best.id))
    assert runs[0] == runs[1]


async def test_resume_continues_where_it_stopped(tmp_path):
    script = Script(critic="meh", fixable=False)
    register_script("resume", script)
    run = RunDir.create(tmp_path, "r1")
    first = SearchSettings(samples=3, beam=2, rounds=3, budget_calls=6, model="scripted/resume", cache=False)
    result = await run_search(add_task(), first, FakeEvaluator(), run)
    assert result.stop_reason == "budget" and run.meta()["status"] == "finished"
    sent_before = len(script.prompts)
    script.fixable = True
    ids_before = {n.id for n in result.tree}

    more = SearchSettings(
        samples=3, beam=2, rounds=3, budget_calls=30, critic=False, model="scripted/resume", cache=False
    )
    resumed = await run_search(add_task(), more, FakeEvaluator(), run, resume=True)
    round0 = {i for i in ids_before if i.startswith("0-")}
    assert round0 <= {n.id for n in resumed.tree}  # (the bigger budget may plan later rounds differently)
    # Nodes already generated were not asked for again; the budget counts the old calls.
    new_prompts = script.prompts[sent_before:]
    assert not any("Style:" in p for p in new_prompts)  # no round-0 sample was redrawn
    assert len(new_prompts) <= 30 - 6
    events = [e["kind"] for e in run.events()]
    assert "node_reused" in events
    assert resumed.status == "solved"


async def test_orps_solves_what_best_of_n_cannot_at_equal_calls():
    budget = 12
    orps = make_search(
        SearchSettings(strategy="orps", samples=2, beam=1, rounds=10, budget_calls=budget), Script(), "o"
    )
    bon = make_search(SearchSettings(strategy="best_of_n", budget_calls=budget), Script(), "b")
    orps_result, bon_result = await orps.run(), await bon.run()
    assert orps_result.status == "solved"
    assert bon_result.status == "unsolved"
    assert orps.gateway.usage.calls <= budget and bon.gateway.usage.calls == budget


async def test_reflexion_repairs_with_feedback():
    search = make_search(SearchSettings(strategy="reflexion", samples=3), Script(), "r")
    result = await search.run()
    assert result.status == "solved"
    assert [n.id for n in result.tree] == ["0-0", "1-0"]
    assert result.tree.get("1-0").parent == "0-0"


async def test_single_makes_one_call():
    search = make_search(SearchSettings(strategy="single"), Script(), "s")
    result = await search.run()
    assert search.gateway.usage.calls == 1 and len(result.tree) == 1
    assert result.status == "unsolved"


async def test_events_trace_the_search():
    seen = []
    search = make_search(SearchSettings(samples=2, beam=1, rounds=1), Script())
    search.bus.subscribe(lambda e: seen.append(e.kind))
    await search.run()
    assert seen[0] == "run_started" and seen[-1] == "finished"
    for kind in ("node_created", "node_evaluated", "node_critiqued", "round_done", "usage"):
        assert kind in seen


async def test_an_error_node_is_reported_with_why_it_never_reached_the_tests():
    register_script("no-code", lambda m, p: "I would rather talk about it.")
    settings = SearchSettings(samples=2, beam=1, rounds=1, critic=False, model="scripted/no-code")
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)
    await Search(add_task(), settings, Gateway(GatewayConfig()), FakeEvaluator(), bus).run()
    errors = [e.data for e in seen if e.kind == "node_evaluated" and e.data["verdict"] == "error"]
    assert errors and all(d["message"] == "the answer contained no code" for d in errors)


async def test_answer_without_code_is_recorded_not_fatal():
    register_script(
        "prose", lambda m, p: "I would rather talk about it." if "reviewer" not in m[0]["content"] else "Score: 1/5"
    )
    settings = SearchSettings(samples=2, beam=1, rounds=1, model="scripted/prose")
    result = await Search(add_task(), settings, Gateway(GatewayConfig()), FakeEvaluator()).run()
    node = result.tree.get("0-0")
    assert node.evaluation.verdict == "error" and "no code found in the answer" in node.notes
    assert result.status == "unsolved"
    assert re.search("no code", node.evaluation.message)


# -- the interfaces the engine types against --------------------------------------------


def test_every_strategy_setting_names_a_registered_strategy_and_an_unknown_one_is_refused():
    from search.settings import STRATEGIES as NAMES
    from search.strategies import STRATEGIES, get_strategy

    assert tuple(STRATEGIES) == NAMES and all(get_strategy(n).name == n for n in NAMES)
    with pytest.raises(ValueError, match=r"unknown strategy 'beam': choose one of orps, best_of_n"):
        get_strategy("beam")


async def test_search_with_an_unknown_strategy_fails_with_the_clear_message():
    settings = SearchSettings(samples=1, strategy="orps")
    settings.strategy = "beam"  # past validation, as a caller building settings by hand could
    with pytest.raises(ValueError, match="unknown strategy 'beam'"):
        await Search(add_task(), settings, Gateway(GatewayConfig()), FakeEvaluator()).run()


class CountingModel:
    """A ModelClient that is no Gateway: answers RIGHT at once, within a call budget."""

    def __init__(self, calls: int):
        from search.types import Usage

        self.usage = Usage()
        self.budget = calls

    async def complete(self, model, messages, *, temperature=0.0, max_tokens=512, seed=None, stop=None, code_for=None):
        from search.types import BudgetExceeded, Completion

        if self.usage.calls >= self.budget:
            raise BudgetExceeded(f"call budget of {self.budget} reached")
        answer = "Right.\nScore: 5/5" if "reviewer" in messages[0]["content"] else RIGHT
        completion = Completion(answer, model, prompt_tokens=10, completion_tokens=5, cost_usd=0.01)
        self.usage.add(completion)
        return completion

    def calls_left(self):
        return self.budget - self.usage.calls


async def test_any_model_client_drives_the_search_and_each_node_records_its_own_spend():
    from search.types import Evaluator, ModelClient

    model = CountingModel(calls=3)
    assert isinstance(model, ModelClient) and isinstance(Gateway(), ModelClient)
    assert isinstance(FakeEvaluator(), Evaluator)
    settings = SearchSettings(samples=2, beam=1, rounds=1, model="counting")
    result = await Search(add_task(), settings, model, FakeEvaluator()).run()
    assert result.status == "solved" and result.stop_reason == "satisfied" and model.usage.calls == 3
    spends = {n.id: n.usage for n in result.tree}
    assert sorted(s.calls for s in spends.values()) == [1, 2]  # program + critique; program, then the budget
    assert sum(s.prompt_tokens for s in spends.values()) == model.usage.prompt_tokens == 30
    assert round(sum(s.cost_usd for s in spends.values()), 6) == 0.03
    assert Node.from_dict(result.tree.get("0-0").to_dict()).usage == spends["0-0"]


class TimingEvaluator(FakeEvaluator):
    """Says every passing candidate's least runtime is 0.5 ms (the engine must ask it)."""

    def __init__(self):
        super().__init__()
        self.measured: list[int] = []

    async def measure_runtime(self, task, code, repeats=5):
        self.measured.append(repeats)
        return 0.0005


async def test_goal_faster_remeasures_passing_code_through_the_evaluator_protocol():
    task = add_task()
    task.original_code = "def add(a, b):\n    return a + b\n"
    settings = SearchSettings(samples=1, strategy="single", goal="faster", model="scripted/right")
    register_script("right", lambda m, p: RIGHT)
    evaluator = TimingEvaluator()
    result = await Search(task, settings, Gateway(GatewayConfig()), evaluator).run()
    assert evaluator.measured == [5, 5]  # the baseline, then the one passing candidate
    assert result.baseline.evaluation.runtime_s == result.best.evaluation.runtime_s == 0.0005
    assert "runtime re-measured: min of 5 runs" in result.best.notes


def test_no_critic_score_lifts_a_node_above_one_that_passes_more_tests():
    flattered = _node("flattered", 5, 1.9, passed=1)  # its output talked the critic into a 5
    honest = _node("honest", 1, 0.6, passed=2)
    assert [n.id for n in select_beam([flattered, honest], 2)] == ["honest", "flattered"]
    cheat = _node("cheat", 5, 2.0, passed=2)
    cheat.evaluation.verdict = "suspicious"  # its passes are never counted, in the ranking either
    assert [n.id for n in select_beam([cheat, flattered], 2)] == ["flattered", "cheat"]


def test_a_verdict_and_its_counts_always_agree():
    from search.types import Evaluation

    forged = Evaluation(verdict="passed", passed=2, total=3)
    assert forged.verdict == "failed" and not forged.all_passed and "reported passed with 2 of 3" in forged.message
    assert Evaluation(verdict="passed", passed=0, total=0).verdict == "failed"
    stored = Evaluation.from_dict({"verdict": "passed", "passed": 1, "total": 2})
    assert stored.verdict == "failed"
    assert Evaluation(verdict="passed", passed=3, total=3).verdict == "passed"
