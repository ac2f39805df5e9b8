"""A hosted model (here openai/ at an OpenAI-compatible server on 127.0.0.1 that the test
starts) is called through litellm's synchronous API in a daemon thread of its own: the
provider's first-call imports and every call's request and response building stay off the
event loop, and a cancel returns at once even while the server has not answered."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from search.gateway import Gateway, GatewayConfig
from search.providers.openai_server import serving
from tests.support import until

MSG = [{"role": "user", "content": "hi"}]


HOLD = threading.Event()
"""Set: the server answers at once; clear: it holds the answer until RELEASE is set (30 s at most)."""
ARRIVED, RELEASE, ANSWERED = threading.Event(), threading.Event(), threading.Event()


def respond(messages, params):
    if not HOLD.is_set():
        ARRIVED.set()
        RELEASE.wait(30)
        ANSWERED.set()
    return "answer to " + messages[-1]["content"]


@pytest.fixture(scope="module")
def api_base():
    with serving(respond) as base:
        yield base


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
    HOLD.set()
    for event in (ARRIVED, RELEASE, ANSWERED):
        event.clear()


async def test_a_hosted_models_call_runs_in_a_thread_of_its_own_and_returns_its_answer(api_base, monkeypatch):
    import litellm

    from search import gateway

    callers = []
    completion = litellm.completion

    def recording(**kwargs):
        callers.append(threading.current_thread().name)
        return completion(**kwargs)

    monkeypatch.setattr(litellm, "completion", recording)
    gw = Gateway(GatewayConfig(api_base=api_base, retries=0))
    answer = await gw.complete("openai/stall", MSG)
    assert answer.text == "answer to hi"
    assert gw.usage.calls == 1 and gw.usage.prompt_tokens == 10 and gw.usage.completion_tokens == 3
    # (litellm's loading thread makes one warm-up call of its own to a scripted model)
    assert [name for name in callers if name != "orps-import-litellm"] == ["orps-model-call"]  # not the loop's
    assert "openai" in gateway._hosted_providers_called


async def test_cancelling_a_hosted_call_returns_at_once_while_the_server_is_silent(api_base):
    HOLD.clear()
    gw = Gateway(GatewayConfig(api_base=api_base, retries=0, timeout_s=60))
    call = asyncio.ensure_future(gw.complete("openai/stall", [{"role": "user", "content": "slow"}]))
    await until(ARRIVED.is_set, 60, "the request reaching the server")
    call.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await call
        assert not ANSWERED.is_set()  # the cancel returned while the server was still silent
    finally:
        RELEASE.set()
    assert gw.usage.calls == 0  # nothing answered, nothing counted


def test_the_collector_pause_of_a_first_call_ends_after_its_limit_even_if_the_call_waits_on():
    import gc

    from search.gateway import collector_paused_then_frozen

    assert gc.isenabled()
    with collector_paused_then_frozen(at_most_s=0.1):
        assert not gc.isenabled()
        frozen = gc.get_freeze_count()
        deadline = time.monotonic() + 5
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.02)  # the call still waiting on its model
        assert gc.isenabled() and gc.get_freeze_count() >= frozen  # resumed, and what it made is frozen
    assert gc.isenabled()
