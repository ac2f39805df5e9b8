"""Stop reasons are an enum whose text is the word runs, JSON documents and the CLI show."""

from __future__ import annotations

import json

import pytest

from search.session import run_search
from search.settings import SearchSettings
from search.stop import MEANINGS, StopReason
from search.store import RunDir
from search.strategies import STRATEGIES
from search.types import Task
from tests.fakes import FakeEvaluator

WORDS = ["satisfied", "solved", "rounds", "steps", "samples", "chain", "single", "budget", "no_nodes", "cancelled"]
"""The words stored runs and JSON documents held before the enum: they must not change."""
ADDED = ["passing"]
"""Words added since, after the old ones."""
ADD = Task(
    id="add",
    problem="Return the sum of a and b.",
    entry_point="add",
    signature="def add(a, b):",
    tests=["assert add(1, 2) == 3"],
)
WRONG = "## Reasoning\nSubtract.\n\n## Code\n```python\ndef add(a, b):\n    return a - b\n```\n"
"""A programmer that is never right: only the plan or the budget ends a search."""


def test_the_words_are_the_ones_stored_runs_hold():
    assert [reason.value for reason in StopReason] == WORDS + ADDED


@pytest.mark.parametrize("reason", list(StopReason))
def test_every_reason_reads_as_its_word_and_says_what_it_means(reason):
    word = reason.value
    assert str(reason) == f"{reason}" == "{}".format(reason) == "%s" % reason == word
    assert f"run r: unsolved ({reason}), best node -" == f"run r: unsolved ({word}), best node -"
    assert json.dumps({"stop_reason": reason}) == json.dumps({"stop_reason": word})
    assert reason == word and StopReason(word) is reason and StopReason.read(word) is reason
    assert reason.meaning and MEANINGS[reason] == reason.meaning


def test_a_word_no_member_has_reads_back_as_itself():
    assert StopReason.read("exhausted") == "exhausted" and not isinstance(StopReason.read("exhausted"), StopReason)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_every_strategy_stops_with_a_reason_of_the_enum(strategy):
    from search.engine import Search
    from search.gateway import Budget, Gateway, GatewayConfig
    from search.providers.scripted import register_script

    register_script("stop-any", lambda messages, params: WRONG)
    settings = SearchSettings(
        strategy=strategy,
        samples=2,
        beam=1,
        rounds=1,
        budget_calls=4,
        critic=False,
        model="scripted/stop-any",
        cache=False,
    )
    result = await Search(ADD, settings, Gateway(GatewayConfig(backoff_s=0), Budget(calls=4)), FakeEvaluator()).run()
    assert isinstance(result.stop_reason, StopReason) and result.summary()["stop_reason"] == result.stop_reason.value


async def test_a_stored_run_holds_the_word_and_reads_back_equal(tmp_path):
    from search.providers.scripted import register_script

    register_script("stop-words", lambda messages, params: WRONG)  # never right: the budget ends it
    run = RunDir.create(tmp_path, "r1")
    settings = SearchSettings(samples=3, beam=2, rounds=3, budget_calls=6, model="scripted/stop-words", cache=False)
    result = await run_search(ADD, settings, FakeEvaluator(), run)
    assert result.stop_reason is StopReason.BUDGET
    # on disk: the plain word, as runs stored before the enum hold it
    meta_text = (run.path / "meta.json").read_text()
    result_text = (run.path / "result.json").read_text()
    assert '"stop_reason": "budget"' in meta_text and '"stop_reason": "budget"' in result_text
    # read back (plain text): equal to the member, and the member it names
    again = RunDir(run.path)  # as `orps runs` and resume open it
    stored = again.meta()["stop_reason"]
    assert type(stored) is str and stored == StopReason.BUDGET and StopReason.read(stored) is StopReason.BUDGET
    assert json.loads(result_text)["stop_reason"] == result.stop_reason
