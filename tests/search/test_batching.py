"""The requests of one round reach the embedded model as one batch, the same batch on every
run: members account for themselves, whatever order their calls arrive in."""

from __future__ import annotations

import asyncio
import threading

import pytest

from search import batching
from search.engine import Search
from search.gateway import Gateway, GatewayConfig
from search.settings import SearchSettings
from tests.fakes import FakeEvaluator
from tests.search.test_engine import add_task


def sender(log: list[list[int]]):
    def send(requests):
        log.append([r["seed"] for r in requests])
        return [f"answer {r['seed']}" for r in requests]

    return send


async def members_calling(group: batching.Group, seeds_and_delays, log, leave_without_call=()):
    """Each member waits its delay, then (in a thread, as a provider does) joins with its seed,
    or goes without a call."""

    async def member(seed, delay):
        await asyncio.sleep(delay)
        if seed in leave_without_call:
            batching.done_with_first_call()
            return None
        me = batching.current()
        return await asyncio.to_thread(batching.join, me, {"seed": seed}, sender(log))

    return await asyncio.gather(*(batching.as_member(group, member(s, d)) for s, d in seeds_and_delays))


async def test_a_group_is_sent_once_every_member_has_called_in_seed_order_whatever_the_arrival_order():
    log: list[list[int]] = []
    answers = await members_calling(batching.Group(3), [(30, 0.03), (10, 0.0), (20, 0.01)], log)
    assert log == [[10, 20, 30]]
    assert answers == ["answer 30", "answer 10", "answer 20"]


async def test_a_member_without_a_call_is_not_waited_for_and_a_cap_closes_a_batch_at_the_same_member():
    log: list[list[int]] = []
    await members_calling(batching.Group(3), [(1, 0.0), (2, 0.0), (3, 0.02)], log, leave_without_call={3})
    assert log == [[1, 2]]
    log.clear()
    group = batching.Group(4)
    group.limit(2)
    await members_calling(group, [(4, 0.0), (3, 0.01), (2, 0.02), (1, 0.03)], log)
    assert log == [[3, 4], [1, 2]]


async def test_a_cancelled_member_leaves_its_batch_without_holding_the_others(monkeypatch):
    log: list[list[int]] = []
    group = batching.Group(2)
    cancel = threading.Event()

    async def cancelled_member():
        me = batching.current()
        cancel.set()
        return await asyncio.to_thread(batching.join, me, {"seed": 1}, sender(log), cancel.is_set)

    async def late_member():
        await asyncio.sleep(0.2)
        me = batching.current()
        return await asyncio.to_thread(batching.join, me, {"seed": 2}, sender(log))

    results = await asyncio.gather(
        batching.as_member(group, cancelled_member()), batching.as_member(group, late_member())
    )
    assert results == [None, "answer 2"] and log == [[2]]


@pytest.fixture
def fake_batching_model(tmp_path, monkeypatch):
    import tests.fake_model_worker as fake
    from search.providers import model_process

    monkeypatch.setenv("FAKE_MODEL_BATCHES", "1")
    monkeypatch.setattr(model_process, "WORKER_MODULE", "tests.fake_model_worker")
    monkeypatch.setattr(model_process, "_package_root", lambda: fake.__file__.rsplit("/tests/", 1)[0])
    model_process.close_all()
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    yield f"local/{path}"
    model_process.close_all()


async def test_a_rounds_samples_reach_the_embedded_models_process_as_one_batch_and_critic_calls_alone(
    fake_batching_model,
):
    settings = SearchSettings(
        samples=4, beam=2, rounds=1, seed=3, model=fake_batching_model, cache=False, critic=True, concurrency=4
    )
    result = await Search(add_task(), settings, Gateway(GatewayConfig(concurrency=4)), FakeEvaluator()).run()
    round0 = [n for n in result.tree if n.round == 0]
    assert len(round0) == 4
    assert all(n.raw_answer.startswith("batch of 4") for n in round0)
    assert all("batch of" not in n.critique for n in round0)  # the critic was asked alone


async def test_a_round_of_8_is_one_batch_whatever_the_gateways_concurrency_and_says_which_function_it_writes(
    fake_batching_model,
):
    # The model's child answers in order anyway: a concurrency of 4 would only split the round
    # into two batches of 4, which take longer than one of 8.
    settings = SearchSettings(
        samples=8, beam=2, rounds=1, seed=3, model=fake_batching_model, cache=False, critic=False, concurrency=4
    )
    task = add_task()
    result = await Search(task, settings, Gateway(GatewayConfig(concurrency=4)), FakeEvaluator()).run()
    round0 = [n for n in result.tree if n.round == 0]
    assert len(round0) == 8
    assert all(n.raw_answer.startswith("batch of 8,") for n in round0)
    assert all(f"code for {task.entry_point}\n" in n.raw_answer for n in round0)


def test_the_embedded_model_is_called_without_importing_litellm(tmp_path):
    # Importing litellm takes seconds; a demo with the embedded model must not wait for it.
    import subprocess
    import sys
    import textwrap

    from tests.support import cli_env

    (tmp_path / "fake.gguf").write_bytes(b"GGUF")
    program = textwrap.dedent(f"""
        import asyncio, os, sys
        os.environ["FAKE_MODEL_BATCHES"] = "1"
        import tests.fake_model_worker as fake
        fake.use_in_this_process()
        from search.gateway import Gateway, GatewayConfig
        messages = [{{"role": "user", "content": "hi"}}]
        answer = asyncio.run(Gateway(GatewayConfig()).complete("local/{tmp_path}/fake.gguf", messages, code_for="f"))
        print(answer.completion_tokens > 0, "litellm" in sys.modules)
        sys.stdout.flush()
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]
