"""Agreement among tied candidates (search.agreement): probe inputs, outputs, the choice."""

from __future__ import annotations

import random

from search import agreement as A
from search.tree import Node
from search.types import Evaluation, Task, TestResult


class ProbeEvaluator:
    """Runs a candidate and each test in-process after the task's setup, and reports a
    failing test with the exception's own message (as the sandbox's plugin does)."""

    def __init__(self, verdicts: dict[str, str] | None = None, fast: str = ".get("):
        self.runs: list[str] = []
        self.fast = fast
        """Code with this fragment runs fastest (the plain rule then prefers it among ties)."""
        self.verdicts = verdicts or {}
        """Code fragment -> verdict to report instead (a sandbox that caught it cheating)."""

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False) -> Evaluation:
        self.runs.append(code)
        for fragment, verdict in self.verdicts.items():
            if fragment in code:
                return Evaluation(verdict=verdict, total=len(task.tests))
        namespace: dict = {}
        exec(code, namespace)
        exec(task.test_setup, namespace)
        results = []
        for i, test in enumerate(task.tests):
            try:
                exec(test, namespace)
                results.append(TestResult(f"test_{i}", "passed"))
            except AssertionError as err:
                results.append(TestResult(f"test_{i}", "failed", f"E   AssertionError: {err}"))
        passed = sum(r.outcome == "passed" for r in results)
        return Evaluation(
            verdict="passed" if passed == len(results) else "failed",
            passed=passed,
            total=len(results),
            tests=results,
            runtime_s=0.0001 if self.fast in code else 0.001,
        )


def task() -> Task:
    return Task(
        id="sq",
        problem="Return the list of squares of xs.",
        entry_point="squares",
        tests=["assert squares([1, 2]) == [1, 4]", "assert squares([3]) == [9]"],
    )


RIGHT = "def squares(xs):\n    return [x * x for x in xs]\n"
RIGHT_TOO = "def squares(xs):\n    out = []\n    for x in xs:\n        out.append(x ** 2)\n    return out\n"
SPECIAL = "def squares(xs):\n    return {(1, 2): [1, 4], (3,): [9]}.get(tuple(xs), [])\n"


def node(node_id: str, code: str, passed: int = 2, total: int = 2, verdict: str = "", runtime: float = 0.001) -> Node:
    n = Node(id=node_id, parent=None, round=0, code=code)
    n.evaluation = Evaluation(
        verdict=verdict or ("passed" if passed == total else "failed"), passed=passed, total=total, runtime_s=runtime
    )
    return n


def test_calls_with_literal_arguments_are_found_by_name_and_attribute():
    calls = A.calls_in_tests(
        ["assert f(1, 'a') == 2", "assert m.f([1, 2], k=3)", "assert f(x) == 1", "assert g(1) == 1", "not python ("],
        "f",
    )
    assert [c.render("f") for c in calls] == ["f(1, 'a')", "f([1, 2], k=3)"]


def test_project_tests_source_gives_calls_and_methods_give_none():
    project = Task(
        id="p",
        problem="",
        entry_point="slugify",
        kind="project",
        tests_source="import pkg as p\n\ndef test_a():\n    assert p.slugify('A b') == 'a-b'\n",
    )
    assert [c.render("slugify") for c in A.task_calls(project)] == ["slugify('A b')"]
    method = Task(id="p", problem="", entry_point="Stack.push", kind="project", tests_source="s.push(1)")
    assert A.task_calls(method) == []


def test_mutations_are_type_aware_and_nested():
    rng = random.Random(0)
    assert A.mutations(5, rng) == [6, 4, 0, -5, 22]
    assert A.mutations(True, rng) == [False]
    assert {"", "cba", "ABC"} <= set(A.mutations("abc", rng))
    assert any(len(s) > 3 for s in A.mutations("abc", rng))
    lists = A.mutations([3, 1, 2], rng)
    assert [] in lists and [3, 1] in lists and [1, 2, 3] in lists and [2, 1, 3] in lists
    assert [3, 1, 2, 3] in lists  # one element added (the last one, mutated)
    assert [4, 1, 2] in lists  # nested: the first element mutated as an int
    nested = A.mutations([["a"]], rng)
    assert [[]] in nested and [["a", ""]] in nested  # the inner list mutated as a list of strings
    assert all(isinstance(t, tuple) for t in A.mutations((1, 2), rng))
    assert A.mutations(None, rng) == []


def test_probes_are_new_spread_over_arguments_and_capped():
    calls = [A.Call((1, "ab")), A.Call((2, "c"))]
    probes = A.derive_probes(calls, limit=6)
    rendered = [p.render("f") for p in probes]
    assert len(rendered) == 6 and len(set(rendered)) == 6
    assert "f(1, 'ab')" not in rendered and "f(2, 'c')" not in rendered
    assert any("'ab'" not in r and r.startswith("f(1,") for r in rendered)  # the string mutated
    assert any(r.endswith("'ab')") for r in rendered)  # the int mutated
    assert A.derive_probes([A.Call((None,))]) == []


def test_agreement_counts_the_others_that_behave_alike():
    a, b = A.Output("1" * 16, "returns 1"), A.Output("2" * 16, "returns 2")
    t = A.Output("3" * 16, "timeout")
    scores = A.agreement_scores({"x": [a, a], "y": [a, b], "z": [b, t]})
    assert scores["x"] == (0.5 + 0.0) / 2
    assert scores["y"] == (0.5 + 0.0) / 2  # the second probe: x says 1, z timed out
    assert scores["z"] == (0.0 + 0.0) / 2  # a timeout agrees with nothing, even a timeout
    assert A.agreement_scores({"x": [a]}) == {"x": 0.0}


async def test_agreement_breaks_the_tie_against_the_special_case():
    nodes = [node("0-0", SPECIAL, runtime=0.0001), node("0-1", RIGHT), node("0-2", RIGHT_TOO)]
    report = await A.select_by_agreement(task(), nodes, A.evaluator_probes(ProbeEvaluator()))
    assert report.before == "0-0"  # the plain rule takes the fastest of the tie
    assert report.chosen in ("0-1", "0-2") and report.changed
    assert report.scores["0-0"] < report.scores["0-1"] == report.scores["0-2"]
    assert report.inputs and all(i.startswith("squares(") for i in report.inputs)
    assert report.outputs["0-1"][0].startswith("returns [")
    A.record_on_nodes(report, nodes)
    assert nodes[1].agreement == report.scores["0-1"] and nodes[0].agreement == report.scores["0-0"]
    assert nodes[1].probes[0]["input"] == report.inputs[0] and nodes[1].probes[0]["output"].startswith("returns")
    assert report.to_dict()["changed"] is True


async def test_crashing_and_hanging_candidates_are_outputs_not_failures():
    crash = "def squares(xs):\n    if not xs: raise TypeError('empty')\n    return [x * x for x in xs]\n"
    ptask, marker = A.probe_task(task(), [A.Call(([],)), A.Call(([2],))])
    ev = await ProbeEvaluator().evaluate(ptask, crash)
    outs = A.read_outputs(ev, marker, 2)
    assert [o.text for o in outs] == ["raises TypeError", "returns [4]"]
    hang = "def squares(xs):\n    while not xs: pass\n    return [x * x for x in xs]\n"
    ev = await ProbeEvaluator().evaluate(ptask, hang)
    assert [o.text for o in A.read_outputs(ev, marker, 2)] == ["timeout", "returns [4]"]


def test_a_forged_message_without_the_marker_is_not_an_output():
    ev = Evaluation(
        verdict="failed",
        total=2,
        tests=[
            TestResult("t0", "failed", "E   AssertionError: ORPS-PROBE-000000000000 " + "a" * 16 + " returns 1"),
            TestResult("t1", "failed", 'raise AssertionError("ORPS-PROBE-abc " + digest + " ")'),
        ],
    )
    assert A.read_outputs(ev, "ORPS-PROBE-abc", 2) == [None, None]


async def test_suspicious_candidates_are_neither_chosen_nor_voters():
    cheat = SPECIAL.replace("[]", "None")
    nodes = [
        node("0-0", SPECIAL, runtime=0.0001),
        node("0-1", RIGHT),
        node("0-2", cheat, verdict="suspicious", passed=0),
    ]
    report = await A.select_by_agreement(task(), nodes, A.evaluator_probes(ProbeEvaluator()))
    assert "0-2" not in report.tied
    # Caught cheating on the probes themselves: not a voter, and ranked last.
    nodes = [node("0-0", SPECIAL), node("0-1", RIGHT), node("0-2", RIGHT_TOO, runtime=0.0001)]
    report = await A.select_by_agreement(task(), nodes, A.evaluator_probes(ProbeEvaluator({"append": "suspicious"})))
    assert report.scores["0-2"] is None and report.chosen != "0-2"


async def test_no_tie_no_literal_calls_and_one_program_are_skipped_with_a_reason():
    evaluator = ProbeEvaluator()
    run = A.evaluator_probes(evaluator)
    report = await A.select_by_agreement(task(), [node("0-0", RIGHT), node("0-1", SPECIAL, passed=1)], run)
    assert report.chosen == "0-0" and "no tie" in report.skipped
    report = await A.select_by_agreement(task(), [node("0-0", RIGHT), node("0-1", RIGHT)], run)
    assert "no tie" in report.skipped
    no_literals = Task(id="x", problem="", entry_point="squares", tests=["xs = [1]\nassert squares(xs) == [1]"])
    report = await A.select_by_agreement(no_literals, [node("0-0", RIGHT), node("0-1", SPECIAL)], run)
    assert "literal arguments" in report.skipped and report.chosen == "0-0"
    assert evaluator.runs == []  # nothing was run for any of them


# -- in the engine, with the scripted model ----------------------------------------------------

from search.engine import Search  # noqa: E402
from search.events import EventBus  # noqa: E402
from search.gateway import Budget, Gateway, GatewayConfig  # noqa: E402
from search.providers.scripted import register_script  # noqa: E402
from search.settings import SearchSettings  # noqa: E402


def answer(code: str) -> str:
    return f"## Reasoning\nSquares.\n\n## Code\n```python\n{code}```\n"


def squares_programmer(messages, params):
    """Three fresh samples that all pass both public asserts: the first (style 0) special-
    cases them, the other two square every element (written differently)."""
    user = messages[-1]["content"]
    if "straightforward" in user:
        return answer(SPECIAL)
    if "efficient" in user:
        return answer(RIGHT)
    return answer(RIGHT_TOO)


def squares_search(name: str, evaluator, **settings) -> Search:
    register_script(name, squares_programmer)
    s = SearchSettings(strategy="best_of_n", samples=3, model=f"scripted/{name}", **settings)
    return Search(
        Task(**{**task().__dict__, "hidden_tests": []}),
        s,
        Gateway(GatewayConfig(backoff_s=0), Budget()),
        evaluator,
        EventBus(),
    )


async def test_the_search_breaks_a_tie_with_agreement_and_records_it():
    plain = await squares_search("agree-off", ProbeEvaluator()).run()
    assert plain.best.code.strip() == SPECIAL.strip()  # the plain rule: the fastest of the tie
    assert plain.agreement is None
    result = await squares_search("agree-on", ProbeEvaluator(), agreement=True).run()
    assert result.best.code.strip() in (RIGHT.strip(), RIGHT_TOO.strip())
    doc = result.summary()["agreement"]
    assert doc["changed"] and doc["before"] == "0-0" and doc["chosen"] == result.best.id
    assert len(doc["tied"]) == 3 and doc["inputs"][0].startswith("squares(")
    probed = result.tree.get("0-1")
    assert probed.agreement is not None and probed.probes[0]["input"] == doc["inputs"][0]
    assert probed.probes[0]["output"].startswith("returns [")
    assert result.tree.get("0-0").agreement < probed.agreement


async def test_the_search_never_chooses_a_suspicious_candidate_by_agreement():
    # The sandbox caught the two right programs cheating on the public tests: they pass
    # nothing and are no voters; the special case is the only candidate left.
    class Caught(ProbeEvaluator):
        async def evaluate(self, task, code, *, hidden=False):
            ev = await super().evaluate(task, code, hidden=hidden)
            if "x * x" in code or "append" in code:
                return Evaluation(verdict="suspicious", passed=0, total=ev.total, tests=ev.tests)
            return ev

    result = await squares_search("agree-caught", Caught(), agreement=True).run()
    assert result.best.code.strip() == SPECIAL.strip()
    assert result.agreement["tied"] == ["0-0"] and not result.agreement["changed"]


async def test_a_probe_run_with_no_output_at_all_neither_votes_nor_is_scored():
    async def run(task_, code, probes):
        return (
            [None] * len(probes)
            if "append" in code
            else await A.evaluator_probes(ProbeEvaluator())(task_, code, probes)
        )

    nodes = [node("0-0", SPECIAL), node("0-1", RIGHT), node("0-2", RIGHT_TOO, runtime=0.0001)]
    report = await A.select_by_agreement(task(), nodes, run)
    assert report.scores["0-2"] is None and report.chosen != "0-2"
