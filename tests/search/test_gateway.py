"""The model gateway with the scripted provider: retries, budget, cache, errors, accounting."""

from __future__ import annotations

import asyncio

import litellm
import pytest

from search.gateway import Budget, BudgetExceeded, Gateway, GatewayConfig, ModelError
from search.providers.scripted import register_queue, register_script

MSG = [{"role": "user", "content": "say hi"}]


def gateway(**kwargs) -> Gateway:
    budget = kwargs.pop("budget", None)
    return Gateway(GatewayConfig(backoff_s=0.0, **kwargs), budget)


async def test_accounting_per_call_and_per_run():
    register_queue("acc", ["one two three", "four five"])
    gw = gateway()
    first = await gw.complete("scripted/acc", MSG)
    second = await gw.complete("scripted/acc", MSG)
    assert (first.text, first.prompt_tokens, first.completion_tokens) == ("one two three", 2, 3)
    assert second.completion_tokens == 2
    assert gw.usage.calls == 2 and gw.usage.tokens == 2 + 3 + 2 + 2
    assert gw.usage.cost_usd == 0.0  # in-process providers are free


async def test_transient_errors_are_retried():
    err = litellm.RateLimitError("slow down", llm_provider="scripted", model="flaky")
    register_queue("flaky", [err, err, "finally"])
    gw = gateway(retries=3)
    answer = await gw.complete("scripted/flaky", MSG)
    assert answer.text == "finally" and answer.retries == 2
    assert gw.usage.calls == 1 and gw.usage.retries == 2


async def test_retries_give_up_with_one_clear_message():
    err = litellm.APIConnectionError("connection refused", llm_provider="scripted", model="down")
    register_queue("down", [err] * 5)
    gw = gateway(retries=2)
    with pytest.raises(ModelError) as info:
        await gw.complete("scripted/down", MSG)
    assert "could not reach scripted/down" in info.value.message
    assert gw.usage.calls == 0 and gw.usage.errors == 1


async def test_call_budget_is_a_hard_stop():
    register_script("b", lambda m, p: "ok")
    gw = gateway(budget=Budget(calls=3))
    results = await asyncio.gather(*(gw.complete("scripted/b", MSG) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 2
    assert gw.usage.calls == 3
    with pytest.raises(BudgetExceeded):
        await gw.complete("scripted/b", MSG)


async def test_token_budget_cuts_the_last_call_short():
    register_script("long", lambda m, p: "word " * 100)
    gw = gateway(budget=Budget(tokens=50))
    first = await gw.complete("scripted/long", MSG, max_tokens=500)
    # The completion is cut to what is left; only the last prompt can go past the limit.
    assert first.finish_reason == "length" and gw.usage.completion_tokens <= 50
    with pytest.raises(BudgetExceeded):
        await gw.complete("scripted/long", MSG)


async def test_cache_hit_is_free_and_identical(tmp_path):
    answers = register_queue("c", ["first answer", "second answer"])
    gw = gateway(cache_dir=str(tmp_path))
    a = await gw.complete("scripted/c", MSG, seed=1)
    b = await gw.complete("scripted/c", MSG, seed=1)
    assert a.text == b.text == "first answer" and b.cached and not a.cached
    assert len(answers) == 1  # the provider was asked once
    c = await gw.complete("scripted/c", MSG, seed=2)  # another seed is another question
    assert c.text == "second answer"
    assert gw.usage.calls == 3 and gw.usage.cached_calls == 1


async def test_the_cache_ignores_measured_figures_but_not_results(tmp_path):
    answers = register_queue("m", ["one", "two"])
    gw = gateway(cache_dir=str(tmp_path))

    def ask(feedback):
        return gw.complete("scripted/m", [{"role": "user", "content": f"Execution feedback:\n{feedback}"}], seed=1)

    a = await ask("Verdict: passed. Passed 3 of 3 tests.\nTest runtime: 0.3 ms (original: 1.2 ms)\nPeak memory: 35 MB")
    b = await ask("Verdict: passed. Passed 3 of 3 tests.\nTest runtime: 0.25 ms (original: 1.0 ms)\nPeak memory: 36 MB")
    assert a.text == b.text == "one" and b.cached  # the same search run again: timings always differ
    c = await ask("Verdict: failed. Passed 2 of 3 tests.\nTest runtime: 0.3 ms (original: 1.2 ms)\nPeak memory: 35 MB")
    assert c.text == "two" and not c.cached and not answers  # another result is another question


@pytest.mark.parametrize(
    "error, expected, kind, fatal",
    [
        (
            lambda: litellm.AuthenticationError("Incorrect API key provided", llm_provider="x", model="m"),
            "rejected the credentials",
            "credentials",
            True,
        ),
        (
            lambda: litellm.ContextWindowExceededError("context length exceeded", llm_provider="x", model="m"),
            "prompt is too long",
            "context",
            False,
        ),
        (
            lambda: litellm.NotFoundError("model not found", llm_provider="x", model="m"),
            "unknown model",
            "unknown_model",
            True,
        ),
        # what litellm raises for a missing OPENAI_API_KEY and for a refused connection
        (
            lambda: litellm.InternalServerError(
                "OpenAIException - Missing credentials. Please pass an `api_key`", llm_provider="openai", model="m"
            ),
            "rejected the credentials",
            "credentials",
            True,
        ),
        (
            lambda: litellm.InternalServerError(
                "OpenAIException - Connection error.", llm_provider="openai", model="m"
            ),
            "could not reach",
            "unreachable",
            True,
        ),
        (lambda: litellm.RateLimitError("slow down", llm_provider="x", model="m"), "rate limited", "transient", False),
        (lambda: RuntimeError("the script broke"), "failed", "other", False),
    ],
)
async def test_provider_errors_become_one_message(error, expected, kind, fatal):
    register_queue("err", [error() for _ in range(3)])
    with pytest.raises(ModelError) as info:
        await gateway(retries=2).complete("scripted/err", MSG)
    assert expected in info.value.message
    assert (info.value.kind, info.value.fatal) == (kind, fatal)


async def test_missing_credentials_are_not_retried_but_rate_limits_are():
    queue = register_queue(
        "creds",
        [
            litellm.InternalServerError("Missing credentials: set OPENAI_API_KEY", llm_provider="openai", model="m"),
            "ok",
        ],
    )
    with pytest.raises(ModelError):
        await gateway(retries=3).complete("scripted/creds", MSG)
    assert list(queue) == ["ok"]  # one attempt only
    register_queue("busy", [litellm.RateLimitError("slow down", llm_provider="x", model="m"), "ok"])
    assert (await gateway(retries=3).complete("scripted/busy", MSG)).text == "ok"


def test_model_error_keeps_its_kind_across_processes():
    import pickle

    err = pickle.loads(pickle.dumps(ModelError("no key", "set it", kind="credentials")))
    assert (err.message, err.hint, err.kind, err.fatal) == ("no key", "set it", "credentials", True)


async def test_unknown_model_is_a_clear_error():
    with pytest.raises(ModelError) as info:
        await gateway(retries=0).complete("nosuchprovider/whatever", MSG)
    assert "unknown model" in info.value.message and info.value.hint and info.value.fatal


async def test_unregistered_scripted_model_is_a_clear_error():
    with pytest.raises(ModelError) as info:
        await gateway(retries=0).complete("scripted/never-registered", MSG)
    assert "never-registered" in info.value.message


async def test_concurrency_limit_holds():
    import threading

    cond, state = threading.Condition(), {"now": 0, "peak": 0, "entered": 0}

    def probe(m, p):
        # Each call holds its slot until the next one is in (the last call does not wait), so
        # the calls overlap however busy the machine is, which a fixed sleep does not ensure.
        with cond:
            state["entered"] += 1
            mine = state["entered"]
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            cond.notify_all()
            cond.wait_for(lambda: state["entered"] > mine or mine == 6, timeout=5)
            cond.wait_for(lambda: state["now"] > 2, timeout=0.05)  # a window for a call over the limit
            state["now"] -= 1
        return "ok"

    register_script("p", probe)
    gw = gateway(concurrency=2)
    await asyncio.gather(*(gw.complete("scripted/p", MSG) for _ in range(6)))
    assert state["peak"] == 2 and gw.usage.calls == 6


async def test_timeout_is_retried_then_reported():
    import time

    def slow(m, p):
        time.sleep(0.3)
        return "late"

    register_script("slow", slow)
    gw = gateway(timeout_s=0.05, retries=1)
    with pytest.raises(ModelError):
        await gw.complete("scripted/slow", MSG)
