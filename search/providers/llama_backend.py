"""llama-cpp-python itself: load a GGUF model safely and run one chat completion.

Used inside the model's child process (search.providers.model_worker) and, for the
benchmark that measures what the child costs, in a process of its own.

Why `use_extra_bufts = False`: llama.cpp's CPU backend offers "extra buffer types" (the
AMX tile layout and the repacked weight layouts). A build for the native CPU (what `pip
install llama-cpp-python` compiles with no CMAKE_ARGS) puts them in use whenever the CPU
reports the instructions; on VMs that report AMX but do not grant the thread its tile
state, the first matrix product dies with SIGSEGV in libggml-cpu. Without them the
weights stay in the file's own layout and the ordinary CPU kernels (AVX2, AVX-512) run.
The high-level `Llama` class does not expose the field, so the default parameters it
starts from are patched for the length of the load.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

_params_lock = threading.Lock()


@contextlib.contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    """While a `Llama` loads: the model parameters it starts from have use_extra_bufts off."""
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params

    def params() -> Any:
        p = original()
        if hasattr(p, "use_extra_bufts"):  # older llama.cpp builds have no such field
            p.use_extra_bufts = False
        return p

    with _params_lock:
        native.llama_model_default_params = params
        try:
            yield
        finally:
            native.llama_model_default_params = original


def load_model(path: str, *, n_ctx: int, n_threads: int, extra_buffer_types: bool = False) -> Any:
    """A `llama_cpp.Llama` for the GGUF file at `path` (extra buffer types off unless asked)."""
    from llama_cpp import Llama

    guard = contextlib.nullcontext() if extra_buffer_types else _without_extra_buffer_types()
    with guard:
        return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)


def extra_buffer_types_of(llm: Any) -> bool | None:
    """Whether the loaded model was given extra buffer types (None when unknown)."""
    params = getattr(llm, "model_params", None)
    return getattr(params, "use_extra_bufts", None)


def chat(
    llm: Any,
    messages: list[dict[str, Any]],
    *,
    temperature: float = 0.0,
    max_tokens: int = 512,
    stop: list[str] | str | None = None,
    seed: int | None = None,
    code_for: str = "",
    should_stop: Callable[[], bool] = lambda: False,
    on_token: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """One chat completion with the model's own chat template; llama-cpp's dict.

    `should_stop` is asked once per token (llama.cpp asks the stopping criteria per token);
    a true answer ends the generation there. `on_token(n)` hears the count of tokens so far.
    `code_for`: the generation ends (finish_reason "stop") once the answer holds the fence
    that closes a Python block defining that function (llama_batch.BatchRequest.code_for).
    """
    from llama_cpp import StoppingCriteriaList

    from search.parsing import code_block_closed

    produced = 0
    prompt_length: int | None = None

    def criterion(ids: Any, _logits: Any) -> bool:
        # llama-cpp asks before it appends the token just sampled, so `ids` ends with the
        # previous one: a stop here keeps the answer up to and including that token.
        nonlocal produced, prompt_length
        produced += 1
        if on_token is not None:
            on_token(produced)
        if prompt_length is None:
            prompt_length = len(ids)
        if code_for and len(ids) > prompt_length and b"`" in llm.detokenize([int(ids[-1])]):
            answer = llm.detokenize([int(t) for t in ids[prompt_length:]]).decode("utf-8", errors="ignore")
            if code_block_closed(answer, code_for):
                return True
        return should_stop()

    # create_chat_completion takes no stopping criteria, but its chat handler passes them
    # on to llm.create_completion, which checks them per token: add ours for this call.
    plain = llm.create_completion

    def create_completion(*args: Any, stopping_criteria: Any = None, **kwargs: Any) -> Any:
        criteria = StoppingCriteriaList([criterion])
        criteria.extend(stopping_criteria or [])
        return plain(*args, stopping_criteria=criteria, **kwargs)

    if seed is not None:
        llm.set_seed(int(seed))  # per call: the same seed gives the same answer
    # Forget the previous call's tokens: Llama reuses the KV cache of a shared prompt prefix,
    # which makes an answer depend on the calls before it (seen: the same seed and prompt
    # gave 96 tokens in one run, 77 in the next). Re-evaluating the prompt costs a tenth of
    # a sample; a search that cannot be repeated costs more.
    llm.reset()
    llm.create_completion = create_completion
    try:
        completion: dict[str, Any] = llm.create_chat_completion(
            messages=messages,
            temperature=float(temperature),
            max_tokens=int(max_tokens),
            stop=stop or None,
            seed=None if seed is None else int(seed),
        )
        return completion
    finally:
        del llm.create_completion  # back to the class's method


def system_info() -> str:
    """llama.cpp's own description of the build: which CPU features it was compiled to use."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).strip()


def library_version() -> str:
    import llama_cpp

    return str(getattr(llama_cpp, "__version__", "?"))


def timed_load(path: str, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    llm = load_model(path, **kwargs)
    return llm, time.perf_counter() - started
