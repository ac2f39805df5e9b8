"""An ORPS round ends at its first satisfying answer, in the order the batch's answers ended,
whatever the speed of their checks: the same nodes on every run, the rest of the batch
cancelled, the dropped answers never cached. With a scripted model child whose batch answers
each request after a scripted number of steps (tests/fake_model_worker.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from search.engine import Search
from search.gateway import Gateway, GatewayConfig
from search.settings import SearchSettings
from tests.fakes import FakeEvaluator
from tests.search.test_engine import add_task

RIGHT = "```python\ndef add(a, b):\n    return a + b  # {}\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b  # {}\n```"


@pytest.fixture
def scripted_batch(tmp_path, monkeypatch):
    """`script(entries)`: the model's batch answers its requests (sorted by seed) with
    (steps, text) entries in turn; the model is a fake child, one step every 0.05 s."""
    import tests.fake_model_worker as fake
    from search.providers import model_process

    monkeypatch.setenv("FAKE_MODEL_BATCHES", "1")
    monkeypatch.setenv("FAKE_MODEL_TOKEN_S", "0.05")
    monkeypatch.setattr(model_process, "WORKER_MODULE", "tests.fake_model_worker")
    monkeypatch.setattr(model_process, "_package_root", lambda: fake.__file__.rsplit("/tests/", 1)[0])
    model_process.close_all()
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")

    def script(entries: list[tuple[int, str]]) -> str:
        monkeypatch.setenv("FAKE_MODEL_SCRIPT", json.dumps([{"tokens": n, "text": t} for n, t in entries]))
        return f"local/{path}"

    yield script
    model_process.close_all()


class CheckTimes(FakeEvaluator):
    """Checks that take as long as the candidate's comment says (`# slow` 0.6 s)."""

    async def evaluate(self, task, code, *, hidden=False):
        if "# slow" in code:
            await asyncio.sleep(0.6)
        return await super().evaluate(task, code, hidden=hidden)


def settings(model: str, **kw) -> SearchSettings:
    return SearchSettings(
        **{"samples": 4, "beam": 2, "rounds": 1, "seed": 3, "model": model, "cache": False, "critic": False, **kw}
    )


def answers(result) -> list[str]:
    """Each node's scripted answer (its comment), in id order."""
    return sorted(n.code.split("# ")[1].split("\n")[0] for n in result.tree if n.round == 0)


async def test_a_round_ends_at_its_first_satisfying_answer_and_cancels_the_answers_still_being_generated(
    scripted_batch,
):
    model = scripted_batch(
        [
            (30, WRONG.format("last")),
            (5, WRONG.format("first")),
            (10, RIGHT.format("second")),
            (20, RIGHT.format("3rd")),
        ]
    )
    gateway = Gateway(GatewayConfig())
    result = await Search(add_task(), settings(model), gateway, FakeEvaluator()).run()
    assert result.status == "solved" and result.stop_reason == "satisfied"
    assert answers(result) == ["first", "second"]
    assert result.best is not None and "# second" in result.best.code
    assert gateway.usage.calls in (2, 3)  # the last answer (30 steps) was cancelled, never answered


async def test_the_round_holds_the_answers_up_to_the_first_satisfying_one_in_the_batchs_order_not_the_checks(
    scripted_batch,
):
    # The second answer (right) is checked slowly; the third (right too) ends later but is
    # checked at once: still the second one ends the round and the third is dropped.
    model = scripted_batch(
        [
            (5, WRONG.format("first")),
            (10, RIGHT.format("second slow")),
            (14, RIGHT.format("third")),
            (60, WRONG.format("x")),
        ]
    )
    trees = []
    for _ in range(2):
        result = await Search(add_task(), settings(model), Gateway(GatewayConfig()), CheckTimes()).run()
        assert answers(result) == ["first", "second slow"]
        trees.append([(n.id, n.raw_answer, n.code) for n in sorted(result.tree, key=lambda n: n.id)])
    assert trees[0] == trees[1]


async def test_a_round_without_a_satisfying_answer_holds_every_answer(scripted_batch):
    model = scripted_batch(
        [(9, WRONG.format("a")), (3, WRONG.format("b")), (6, WRONG.format("c")), (1, WRONG.format("d"))]
    )
    result = await Search(add_task(), settings(model, rounds=0), Gateway(GatewayConfig()), FakeEvaluator()).run()
    assert answers(result) == ["a", "b", "c", "d"]


async def test_the_answers_a_round_dropped_are_not_cached_so_a_rerun_from_the_cache_builds_the_same_tree(
    scripted_batch, tmp_path
):
    model = scripted_batch(
        [
            (5, WRONG.format("first")),
            (10, RIGHT.format("second slow")),
            (14, RIGHT.format("third")),
            (60, WRONG.format("x")),
        ]
    )
    cache = str(tmp_path / "cache")
    trees, usages = [], []
    for _ in range(2):
        gateway = Gateway(GatewayConfig(cache_dir=cache))
        result = await Search(add_task(), settings(model, cache=True), gateway, CheckTimes()).run()
        trees.append([(n.id, n.raw_answer) for n in sorted(result.tree, key=lambda n: n.id)])
        usages.append(gateway.usage)
    assert trees[0] == trees[1]
    assert usages[1].cached_calls == 2  # the two kept answers; the third one was never cached


def test_a_batchs_answers_reach_orps_as_each_ends_in_that_order(tmp_path, monkeypatch):
    from search.providers import model_process

    monkeypatch.setenv("FAKE_MODEL_BATCHES", "1")
    monkeypatch.setenv("FAKE_MODEL_TOKEN_S", "0.05")
    monkeypatch.setenv("FAKE_MODEL_SCRIPT", json.dumps([{"tokens": n, "text": str(n)} for n in (40, 3, 8)]))
    monkeypatch.setattr(model_process, "WORKER_MODULE", "tests.fake_model_worker")
    model_process.close_all()
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    try:
        proc = model_process.process_for(str(path))
        request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64, "stop": None}
        calls = proc.submit_batch([{**request, "seed": s} for s in (1, 2, 3)])
        assert calls[1].wait(10) and calls[2].wait(10)
        assert not calls[0].done  # still being generated while the short ones are answered
        assert [calls[1].order, calls[2].order] == [0, 1]
        assert calls[0].wait(10) and calls[0].order == 2
        again = proc.submit_batch([{**request, "seed": s} for s in (4, 5, 6)])  # a new batch: places from 0
        assert all(call.wait(10) for call in again) and [c.order for c in again] == [2, 0, 1]
    finally:
        model_process.close_all()
