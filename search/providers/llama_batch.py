"""Several chat completions generated together: one llama.cpp batch, one sequence each.

On a CPU, generating one token costs about the same whether it is for one sequence or for
four: the weights are read once per decode step either way. So the samples a round asks
for are decoded together, each in its own sequence of one unified KV cache, each with its
own sampler chain and seed. Requests with the same prompt share its evaluation: the prompt
is decoded once and its cache copied to the other sequences; distinct prompts share the
evaluation of their common prefix the same way.

The high-level `llama_cpp.Llama` has no multi-sequence generation, so this uses the
low-level API on the model that a `Llama` already loaded (with its load settings, for
example extra buffer types off), in a context of its own made for the batch.

The answers of a batch are reproducible for the same requests in the same order; they can
differ slightly from the same requests generated one at a time (the batch's shape changes
the arithmetic), which is why a caller that wants reproducible runs sends the same batches.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from search.providers._llama_compat import loaded_model, native_model

TOP_K, TOP_P, MIN_P, TYPICAL_P = 40, 0.95, 0.05, 1.0
"""The sampler settings of `Llama.create_chat_completion`'s defaults, so that a batch
samples from the same distribution as a call one at a time."""


@dataclass
class BatchRequest:
    messages: list[dict[str, Any]]
    temperature: float = 0.0
    max_tokens: int = 512
    stop: list[str] = field(default_factory=list)
    seed: int = 0
    code_for: str = ""
    """The function the answer writes: its generation ends at the fence that closes a Python
    block defining it (search.parsing.code_block_closed), since nothing after that block
    becomes part of the candidate. Empty: the answer runs to a stop or the token limit."""


@dataclass
class _Sequence:
    request: BatchRequest
    prompt: list[int]
    sampler: object
    pieces: bytearray = field(default_factory=bytearray)
    produced: int = 0
    position: int = 0
    row: int = -1
    """Its token's index in the last decoded batch: the logits it samples from next."""
    finish: str = ""


def chat_template_prompt(llm: Any, messages: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
    """The prompt tokens `create_chat_completion` would make for `messages`, and the
    template's stop strings."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        text, stop, special = _plain_prompt(messages), [], False
    else:
        model = loaded_model(llm)
        eos, bos = model.token_eos(), model.token_bos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        formatted = formatter(messages=messages)  # type: ignore[arg-type]  # OpenAI-style dicts, as llama-cpp takes them
        text, special = formatted.prompt, formatted.added_special
        stop = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
    return llm.tokenize(text.encode("utf-8"), add_bos=not special, special=True), stop


def _plain_prompt(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "


def _sampler(temperature: float, seed: int) -> Any:
    import llama_cpp.llama_cpp as native

    chain = native.llama_sampler_chain_init(native.llama_sampler_chain_default_params())
    if temperature <= 0:
        native.llama_sampler_chain_add(chain, native.llama_sampler_init_greedy())
        return chain
    for stage in (
        native.llama_sampler_init_top_k(TOP_K),
        native.llama_sampler_init_typical(TYPICAL_P, 1),
        native.llama_sampler_init_top_p(TOP_P, 1),
        native.llama_sampler_init_min_p(MIN_P, 1),
        native.llama_sampler_init_temp(float(temperature)),
        native.llama_sampler_init_dist(seed & 0xFFFFFFFF),
    ):
        native.llama_sampler_chain_add(chain, stage)
    return chain


def generate_batch(
    llm: Any,
    requests: list[BatchRequest],
    *,
    n_threads: int,
    should_stop: Callable[[int], bool] = lambda index: False,
    on_token: Callable[[int], None] | None = None,
    on_finish: Callable[[int, dict[str, Any]], None] | None = None,
    answering_threads: int | None = None,
) -> list[dict[str, Any]]:
    """One llama-cpp-style chat completion dict per request, generated together.

    `should_stop(i)` is asked for each live request once per decode step; a true answer
    ends that request there (finish_reason "cancelled") and the others go on.
    `on_token(n)` hears the batch's count of generated tokens so far.
    `on_finish(i, completion)` hears each request as soon as its sequence ends, so its answer
    can be used while the longer ones go on: in the order they ended (by decode step, then by
    index), which is the same on every run of the same batch.
    `answering_threads`: the threads that decode the steps after the first answer is handed
    on (orps checks the answers in its sandbox meanwhile, on one of the cores). Switched at
    that step, which is the same on every run, never when a check starts: llama.cpp's
    results depend a little on the thread count, and a switch at a moment set by timing
    made two runs of the same batch differ."""
    import llama_cpp.llama_cpp as native

    sequences = []
    for request in requests:
        prompt, template_stop = chat_template_prompt(llm, request.messages)
        sequences.append(
            _Sequence(
                BatchRequest(
                    request.messages,
                    request.temperature,
                    request.max_tokens,
                    [*request.stop, *template_stop],
                    request.seed,
                    request.code_for,
                ),
                prompt,
                _sampler(request.temperature, request.seed),
            )
        )
    longest = max(len(s.prompt) + s.request.max_tokens for s in sequences)
    ctx_params = native.llama_context_default_params()
    ctx_params.n_ctx = min(llm.n_ctx(), longest) * len(sequences) + 64
    ctx_params.n_batch = max(512, sum(len(s.prompt) for s in sequences))
    ctx_params.n_seq_max = len(sequences)
    ctx_params.kv_unified = True
    ctx_params.n_threads = ctx_params.n_threads_batch = n_threads
    ctx = native.llama_init_from_model(native_model(llm), ctx_params)
    if not ctx:
        raise RuntimeError("llama.cpp could not create a context for the batch")
    vocab = native.llama_model_get_vocab(native_model(llm))
    batch = native.llama_batch_init(ctx_params.n_batch, 0, 1)
    try:
        _decode_prompts(native, ctx, batch, sequences)
        after_first = answering_threads or n_threads

        def finished(i: int, completion: dict[str, Any]) -> None:
            if after_first != n_threads and not any(s.finish for j, s in enumerate(sequences) if j != i):
                native.llama_set_n_threads(ctx, after_first, after_first)
            if on_finish is not None:
                on_finish(i, completion)

        _generate(native, ctx, vocab, batch, sequences, should_stop, on_token, finished)
    finally:
        native.llama_batch_free(batch)
        for s in sequences:
            native.llama_sampler_free(s.sampler)
        native.llama_free(ctx)
    return [_completion(s) for s in sequences]


def _fill(batch: Any, tokens_positions_seqs: list[tuple[int, int, int, bool]]) -> None:
    batch.n_tokens = len(tokens_positions_seqs)
    for i, (token, position, seq, logits) in enumerate(tokens_positions_seqs):
        batch.token[i] = token
        batch.pos[i] = position
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = logits


def _decode(native: Any, ctx: Any, batch: Any) -> None:
    status = native.llama_decode(ctx, batch)
    if status != 0:
        raise RuntimeError(f"llama_decode failed ({status}): the batch does not fit the context")


MIN_SHARED_PREFIX = 32
"""Prompt tokens two distinct prompts must share before the second reuses the first's cache
for them (below that, a second decode pass costs more than it saves)."""


def _decode_prompts(native: Any, ctx: Any, batch: Any, sequences: list[_Sequence]) -> None:
    """Every distinct prompt decoded once, each in its own sequence (logits on its last
    token); a sequence whose prompt came earlier gets a copy of that prompt's cache and
    samples its first token from the same row.

    Distinct prompts usually share a long prefix (the system prompt, the task): the first
    distinct prompt but its last token is decoded first, the others take the cache of the
    prefix they share with it, and one more decode holds the rest of every prompt."""
    memory = native.llama_get_memory(ctx)
    firsts: dict[tuple[int, ...], int] = {}  # prompt -> the first sequence holding it
    for seq_id, s in enumerate(sequences):
        firsts.setdefault(tuple(s.prompt), seq_id)
        s.position = len(s.prompt)
    distinct = list(firsts.values())
    base = sequences[distinct[0]].prompt
    start = {seq: 0 for seq in distinct}
    for seq in distinct[1:]:
        prompt = sequences[seq].prompt
        shared = min(_common_prefix(base, prompt), len(prompt) - 1)
        start[seq] = shared if shared >= MIN_SHARED_PREFIX else 0
    if any(start.values()):
        _fill(batch, [(t, p, distinct[0], False) for p, t in enumerate(base[:-1])])
        _decode(native, ctx, batch)
        start[distinct[0]] = len(base) - 1
        for seq in distinct[1:]:
            if start[seq]:
                native.llama_memory_seq_cp(memory, distinct[0], seq, 0, start[seq])
    rows: dict[tuple[int, ...], int] = {}
    entries: list[tuple[int, int, int, bool]] = []
    for seq in distinct:
        prompt = sequences[seq].prompt
        entries += [(prompt[p], p, seq, p == len(prompt) - 1) for p in range(start[seq], len(prompt))]
        rows[tuple(prompt)] = len(entries) - 1
    _fill(batch, entries)
    _decode(native, ctx, batch)
    for seq_id, s in enumerate(sequences):
        s.row = rows[tuple(s.prompt)]
        source = firsts[tuple(s.prompt)]
        if source != seq_id:
            native.llama_memory_seq_cp(memory, source, seq_id, -1, -1)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _generate(
    native: Any,
    ctx: Any,
    vocab: Any,
    batch: Any,
    sequences: list[_Sequence],
    should_stop: Callable[[int], bool],
    on_token: Callable[[int], None] | None,
    on_finish: Callable[[int, dict[str, Any]], None],
) -> None:
    buffer = ctypes.create_string_buffer(256)
    while True:
        for seq_id, s in enumerate(sequences):
            if not s.finish and should_stop(seq_id):
                s.finish = "cancelled"
                on_finish(seq_id, _completion(s))
        live = [(seq_id, s) for seq_id, s in enumerate(sequences) if not s.finish]
        if not live:
            return
        step = []
        for seq_id, s in live:
            token = native.llama_sampler_sample(s.sampler, ctx, s.row)
            if native.llama_vocab_is_eog(vocab, token):
                s.finish = "stop"
                on_finish(seq_id, _completion(s))
                continue
            size = native.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
            piece = buffer.raw[: max(0, size)]
            s.pieces += piece
            s.produced += 1
            if _hit_stop(s) or (b"`" in piece and _code_closed(s)):
                s.finish = "stop"
            elif s.produced >= s.request.max_tokens:
                s.finish = "length"
            else:
                step.append((token, s.position, seq_id, True))
                s.row = len(step) - 1
                s.position += 1
            if s.finish:
                on_finish(seq_id, _completion(s))
        if on_token is not None:
            on_token(sum(s.produced for s in sequences))
        if step:
            _fill(batch, step)
            _decode(native, ctx, batch)


def _hit_stop(s: _Sequence) -> bool:
    text = s.pieces.decode("utf-8", errors="ignore")
    for stop in s.request.stop:
        if stop and stop in text:
            del s.pieces[len(text[: text.index(stop)].encode("utf-8")) :]
            return True
    return False


def _code_closed(s: _Sequence) -> bool:
    if not s.request.code_for:
        return False
    from search.parsing import code_block_closed

    return code_block_closed(s.pieces.decode("utf-8", errors="ignore"), s.request.code_for)


def _completion(s: _Sequence) -> dict[str, Any]:
    text = s.pieces.decode("utf-8", errors="ignore")
    return {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": s.finish or "stop"}
        ],
        "usage": {
            "prompt_tokens": len(s.prompt),
            "completion_tokens": s.produced,
            "total_tokens": len(s.prompt) + s.produced,
        },
    }
