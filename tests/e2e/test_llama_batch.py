"""Several samples decoded together in one llama.cpp batch, with the real embedded model."""

from __future__ import annotations

import importlib.util
import os

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="the local extra is not installed"),
]

ADD = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def llm():
    from search.providers.llama_backend import load_model
    from search.providers.local import smollm2_path

    model = load_model(str(smollm2_path()), n_ctx=2048, n_threads=max(1, os.cpu_count() or 1))
    yield model
    model.close()


def test_a_batch_of_one_greedy_request_answers_as_a_call_one_at_a_time(llm):
    from search.providers.llama_batch import BatchRequest, generate_batch

    [batched] = generate_batch(llm, [BatchRequest(ADD, 0.0, 40)], n_threads=2)
    plain = llm.create_chat_completion(messages=ADD, temperature=0.0, max_tokens=40)
    assert batched["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]
    assert batched["usage"] == {k: plain["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def test_each_sequence_of_a_batch_has_its_own_prompt_seed_and_limit_and_the_batch_repeats_exactly(llm):
    from search.providers.llama_batch import BatchRequest, generate_batch

    requests = [BatchRequest(ADD, 0.8, 48, seed=s) for s in (1, 2, 3)] + [BatchRequest(HELLO, 0.0, 12)]
    first = generate_batch(llm, requests, n_threads=2)
    again = generate_batch(llm, requests, n_threads=2)
    assert first == again  # same requests in the same order: the same answers
    texts = [o["choices"][0]["message"]["content"] for o in first]
    assert len(set(texts[:3])) > 1  # different seeds sample differently from the shared prompt
    assert all(o["usage"]["completion_tokens"] <= 48 for o in first[:3])
    assert first[3]["usage"]["completion_tokens"] <= 12 and "def " not in texts[3]


def test_a_cancelled_request_stops_at_the_next_step_and_the_others_go_on(llm):
    from search.providers.llama_batch import BatchRequest, generate_batch

    steps = []

    def stop_the_first_after_three(index: int) -> bool:
        steps.append(index)
        return index == 0 and steps.count(0) > 3

    outs = generate_batch(
        llm, [BatchRequest(ADD, 0.8, 40, seed=s) for s in range(2)], n_threads=2, should_stop=stop_the_first_after_three
    )
    assert outs[0]["choices"][0]["finish_reason"] == "cancelled" and outs[0]["usage"]["completion_tokens"] == 3
    assert outs[1]["choices"][0]["finish_reason"] in ("stop", "length") and outs[1]["usage"]["completion_tokens"] > 3


def test_distinct_prompts_with_a_long_common_prefix_answer_as_each_alone(llm):
    from search.providers import llama_batch
    from search.providers.llama_batch import BatchRequest, generate_batch

    system = {"role": "system", "content": "You are a careful Python programmer. " * 8 + "Answer with code."}
    add = [system, *ADD]
    sub = [system, {"role": "user", "content": "Write a Python function sub(a, b) that returns a - b."}]
    prompts = [llama_batch.chat_template_prompt(llm, m)[0] for m in (add, sub)]
    assert llama_batch._common_prefix(*prompts) >= llama_batch.MIN_SHARED_PREFIX  # so the cache is shared
    together = generate_batch(
        llm, [BatchRequest(add, 0.0, 24), BatchRequest(sub, 0.0, 24), BatchRequest(add, 0.0, 24)], n_threads=2
    )
    alone = [generate_batch(llm, [BatchRequest(m, 0.0, 24)], n_threads=2)[0] for m in (add, sub, add)]
    assert [o["choices"][0]["message"]["content"] for o in together] == [
        o["choices"][0]["message"]["content"] for o in alone
    ]


def test_an_answer_told_its_function_ends_at_the_fence_closing_its_block_batched_or_alone(llm):
    from search.parsing import parse_program
    from search.providers.llama_backend import chat
    from search.providers.llama_batch import BatchRequest, generate_batch

    [full] = generate_batch(llm, [BatchRequest(ADD, 0.0, 160)], n_threads=2)
    [cut] = generate_batch(llm, [BatchRequest(ADD, 0.0, 160, code_for="add")], n_threads=2)
    alone = chat(llm, ADD, temperature=0.0, max_tokens=160, code_for="add")
    full_text = full["choices"][0]["message"]["content"]
    for out in (cut, alone):
        text = out["choices"][0]["message"]["content"]
        assert out["choices"][0]["finish_reason"] == "stop" and text.rstrip().endswith("```")
        assert full_text.startswith(text) and len(text) < len(full_text)
        assert parse_program(text, "add").code == parse_program(full_text, "add").code


def test_each_answer_is_handed_on_when_its_sequence_ends_and_a_batch_that_then_drops_a_thread_repeats_exactly(llm):
    from search.providers.llama_batch import BatchRequest, generate_batch

    requests = [BatchRequest(ADD, 0.8, 10 + 12 * s, seed=s) for s in (3, 0, 2, 1)]  # limits 46, 10, 34, 22

    def run() -> tuple[list[dict], list[tuple[int, int]]]:
        handed: list[tuple[int, int]] = []
        outs = generate_batch(
            llm,
            requests,
            n_threads=2,
            answering_threads=1,
            on_finish=lambda i, c: handed.append((i, c["usage"]["completion_tokens"])),
        )
        return outs, handed

    first, handed = run()
    assert sorted(i for i, _ in handed) == [0, 1, 2, 3]
    assert [n for _, n in handed] == sorted(n for _, n in handed)  # in the order they ended
    assert {i: n for i, n in handed} == {i: o["usage"]["completion_tokens"] for i, o in enumerate(first)}
    again, handed_again = run()
    assert again == first and handed_again == handed  # the thread switch comes at the same step
