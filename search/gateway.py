# Over 400 lines on purpose: the budget, cache and retries around one model call, and the litellm loading they wait on.
"""The one place that calls models: litellm behind limits, retries, a budget and a cache.

`Gateway` is the engine's `ModelClient` (the protocol in `search.types`); the engine
calls its `complete`. It gives:
- a concurrency limit (an asyncio semaphore) and a per-call timeout;
- retries with exponential backoff on transient errors (rate limit, connection, 5xx);
- token and cost accounting per call (`Completion`) and per run (`Usage`), both plain
  data in `search.types` (and importable from here);
- a hard budget in calls, tokens and dollars: a call that would exceed it raises
  `BudgetExceeded` before anything is sent, so strategies stop cleanly (the calls
  budget is exact even under concurrency; the last call under a token budget has its
  completion cut to what is left, and only its prompt can carry the total past it);
- an optional on-disk response cache, keyed by everything that shapes the answer
  (model, messages, temperature, max tokens, seed, stop, api base): a re-run with the
  same seed is free and identical;
- one clear `ModelError` for everything else (unknown model, bad key, unreachable
  server, context too long), never a provider traceback.

litellm is imported lazily: importing it costs seconds, and `orps --help` should not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from search import _litellm_compat, batching
from search.threads import in_daemon_thread
from search.types import BudgetExceeded, Completion, Usage  # the protocol's data, re-exported here

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Providers that run in this process cost nothing and have no price in litellm's map.
FREE_PROVIDERS = ("local/", "scripted/")


class ModelError(Exception):
    """A model call failed for a reason retrying will not fix.

    `kind` says why: "credentials", "unknown_model", "unreachable", "local_model" (the
    embedded model cannot run), "model_crashed" (the embedded model's process died or hung:
    never retried) fail every later call too (`fatal`), so a run or a benchmark must stop
    rather than score them; "context", "transient" (rate limit or timeout after the
    retries) and "other" concern one call."""

    FATAL_KINDS = frozenset({"credentials", "unknown_model", "unreachable", "local_model", "model_crashed"})

    def __init__(self, message: str, hint: str = "", kind: str = "other"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind

    @property
    def fatal(self) -> bool:
        return self.kind in self.FATAL_KINDS

    def __reduce__(self) -> tuple[Any, ...]:  # keeps kind and hint when sent between processes (Ray, pickling)
        return (type(self), (self.message, self.hint, self.kind))


@dataclass
class Budget:
    """Hard limits for one run; 0 means no limit."""

    calls: int = 0
    tokens: int = 0
    usd: float = 0.0


@dataclass
class GatewayConfig:
    concurrency: int = 4
    """Model calls in flight at once."""
    timeout_s: float = 300.0
    """Limit on one call, including queueing inside the provider. Not for the embedded model
    (`local/`): its child process is watched for progress instead (a call is ended when no
    token came for `model_process.HANG_AFTER_S`), because on a busy machine a batch of samples
    that is still generating can take longer than any fixed limit."""
    retries: int = 3
    """Extra attempts after a transient error."""
    backoff_s: float = 1.0
    """First retry delay; doubles each attempt (with jitter)."""
    api_base: str = ""
    """Passed to litellm as api_base when set."""
    cache_dir: str = ""
    """Directory of cached responses; empty disables the cache."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other litellm options passed through unchanged (api_key, api_version, ...)."""


async def _load_litellm_in_background() -> ModuleType:
    """load_litellm in a daemon thread: the import takes seconds on a busy machine, and
    meanwhile the loop (and Ctrl+C) must stay responsive; a daemon thread, because after a
    cancel nobody should wait for an import at exit (asyncio.run joins executor threads)."""
    litellm: ModuleType = await in_daemon_thread(load_litellm, name="orps-import-litellm")
    return litellm


IN_PROCESS_PROVIDERS = ("local", "scripted")
"""Our litellm providers (search.providers): async in this process, cancellable there."""


def _queued_in_provider(model: str) -> bool:
    """The embedded model's child answers its requests in order, a round's together as one
    batch: the gateway's concurrency limit would only split that batch (two batches of four
    take longer than one of eight), so its calls do not wait for a slot."""
    return model.startswith("local/")


async def _complete(litellm: ModuleType, kwargs: dict[str, Any]) -> Any:
    """One litellm completion. A hosted model's runs as litellm's synchronous call in a
    daemon thread of its own: on the event loop, its first call imported the provider's SDK
    (200 to 440 ms for openai/ in benchmarks/bench_tui_stall.py --litellm) and every call
    builds its request and pydantic response there, each a stall of the TUI. Cancelling
    abandons the thread, whose HTTP request ends by its `timeout`; nothing joins it at exit.
    Our in-process providers keep the async call: they cancel a generation in progress."""
    provider = kwargs["model"].split("/", 1)[0]
    if provider in IN_PROCESS_PROVIDERS:
        return await litellm.acompletion(**kwargs)
    return await in_daemon_thread(
        functools.partial(_hosted_completion, litellm, provider, kwargs), name="orps-model-call"
    )


async def _call_local_model(request: dict[str, Any]) -> Completion:
    """The embedded model, called directly rather than through litellm: litellm's import
    takes seconds (about 5 s of the demo's wall time at load 1.4, before the first sample
    could start) and adds nothing for a model in our own child process. Not retried: its
    errors are a crash or a missing install, which another try does not fix. No timeout
    either: the child is watched for progress instead (GatewayConfig.timeout_s)."""
    from search.providers import local
    from search.providers.model_process import ModelCrashed

    model = request["model"]
    _check_local_model(model)
    started = time.perf_counter()
    try:
        out = await local.complete(
            model.removeprefix("local/"),
            request["messages"],
            temperature=request.get("temperature") or 0.0,
            max_tokens=request.get("max_tokens") or 512,
            stop=request.get("stop"),
            seed=request.get("seed"),
            code_for=request.get("code_for") or "",
        )
    except asyncio.CancelledError:
        raise
    except ModelCrashed as crash:
        raise ModelError(crash.message, crash.hint, kind="model_crashed") from None
    except Exception as err:  # noqa: BLE001 - every other failure becomes one message
        raise explain_error(err, model) from None
    choice = out["choices"][0]
    usage = out.get("usage") or {}
    return Completion(
        text=choice["message"]["content"] or "",
        model=model,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cost_usd=0.0,
        latency_s=time.perf_counter() - started,
        finish_reason=str(choice.get("finish_reason") or ""),
        batch_order=out.get("batch_order"),
    )


_hosted_providers_called: set[str] = set()
_hosted_providers_lock = threading.Lock()  # calls run in threads of their own


def _hosted_completion(litellm: ModuleType, provider: str, kwargs: dict[str, Any]) -> Any:
    """litellm's synchronous completion. A provider's first call imports its SDK (for
    openai/, 515 modules and 49,000 objects that live until exit); a full collection then
    walked them, 30 to 40 ms holding the GIL, in the middle of a screen's first paint
    (bench_tui_stall.py --litellm). So that call runs with the collector paused, for its
    imports (3 s at most: not for the whole wait on the model), and what it left is frozen."""
    with _hosted_providers_lock:
        first = provider not in _hosted_providers_called
        _hosted_providers_called.add(provider)
    if not first:
        return litellm.completion(**kwargs)
    with collector_paused_then_frozen(at_most_s=3.0):
        return litellm.completion(**kwargs)


def load_litellm() -> ModuleType:
    """litellm, imported on first use, with orps's providers (local/, scripted/) registered.

    The first import leaves about 370,000 objects that live until exit (litellm's model
    tables, pydantic's schemas). Left to the collector, they are walked by every full
    collection, 85 to 335 ms each, whichever thread triggers it: the TUI's event loop
    stalled that long (benchmarks/bench_tui_stall.py). So the import runs with the
    collector paused and its objects are frozen: never walked again.
    """
    import sys

    if "litellm" in sys.modules:
        import litellm
    else:
        with collector_paused_then_frozen():
            import litellm

    from search.providers import register_providers

    register_providers(litellm)
    litellm.drop_params = True  # a provider that lacks `seed` or `stop` ignores it
    litellm.suppress_debug_info = True
    _prepare_first_call(litellm)
    return litellm


@contextlib.contextmanager
def collector_paused_then_frozen(at_most_s: float | None = None) -> Iterator[None]:
    """Run the block with the garbage collector paused, then freeze what is alive: for
    one-time work that leaves long-lived objects (an import, a first call). Frozen objects
    are never walked by a full collection again; one that later becomes cyclic garbage stays
    until exit, which is bounded because each caller does this once per process (or once per
    provider). `at_most_s`: resume (and freeze) after that long even if the block runs on, for
    a block that waits on the network after its imports."""
    import gc

    paused = gc.isenabled()
    if paused:
        gc.disable()
    resumed = threading.Lock()

    def resume() -> None:
        if paused and resumed.acquire(blocking=False):
            gc.freeze()
            gc.enable()

    timer = threading.Timer(at_most_s, resume) if paused and at_most_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
        resume()


WARM_UP_SCRIPT = "orps-warm-up"
"""The scripted model `load_litellm` calls once, so litellm's first-call setup runs there."""
_first_call_lock = threading.Lock()
_first_call_done = False


def _prepare_first_call(litellm: ModuleType) -> None:
    """Pay litellm's first-call costs here, in the thread that loads it, once per process.

    The first completion through litellm builds pydantic schemas for its lazy model
    classes (about 40 ms of it in a callback on the caller's event loop) and a tiktoken
    encoding, whose construction holds the GIL for 90 to 230 ms: in the TUI both stalled
    the event loop (benchmarks/bench_tui_stall.py). So: litellm's default encoding is built
    on first use (`search._litellm_compat`; the providers orps runs in process never use it),
    then one call to an in-process scripted model runs the rest of that path, with the
    collector paused and what it leaves frozen, as for the import.
    """
    global _first_call_done

    with _first_call_lock:
        if _first_call_done:
            return
        _first_call_done = True
        _litellm_compat.defer_default_encoding()
        from search.providers.scripted import register_script

        register_script(WARM_UP_SCRIPT, lambda messages, params: "ok")
        with collector_paused_then_frozen():
            try:
                litellm.completion(
                    model=f"scripted/{WARM_UP_SCRIPT}", messages=[{"role": "user", "content": "warm up"}], max_tokens=1
                )
            except Exception:  # noqa: BLE001 - best effort: the first real call then pays what is left
                pass


def _transient_errors(litellm: ModuleType) -> tuple[type[BaseException], ...]:
    return (
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.Timeout,
        litellm.ServiceUnavailableError,
        litellm.InternalServerError,
        asyncio.TimeoutError,
    )


UNREACHABLE_SIGNS = (
    "connection error",
    "connection refused",
    "cannot connect",
    "failed to establish a new connection",
    "name or service not known",
    "nodename nor servname",
    "no route to host",
    "connecterror",
)


def explain_error(err: BaseException, model: str) -> ModelError:
    """Turn a provider exception into one sentence a user can act on."""
    name = type(err).__name__
    text = str(err).strip().splitlines()[0][:300] if str(err).strip() else name
    if isinstance(err, ModelError):
        return err
    if "orps[local]" in text or "GGUF" in text or "local model" in text:
        return ModelError(text, kind="local_model")
    if "ContextWindow" in name or "context length" in text.lower():
        return ModelError(
            f"the prompt is too long for {model}: {text}",
            "use a model with a larger context or a smaller problem",
            kind="context",
        )
    if "Authentication" in name or "api key" in text.lower() or "api_key" in text.lower():
        return ModelError(
            f"{model} rejected the credentials: {text}",
            "set the provider's API key variable (e.g. OPENAI_API_KEY)",
            kind="credentials",
        )
    if "NotFound" in name or "LLM Provider NOT provided" in text or "not found" in text.lower():
        return ModelError(
            f"unknown model {model!r}: {text}",
            "use a litellm model name such as openai/gpt-4o-mini, ollama/qwen2.5-coder or local/smollm2",
            kind="unknown_model",
        )
    # litellm reports a refused connection as InternalServerError("Connection error.") or as
    # APIConnectionError, which is also its wrapper for any exception a provider raises: read the text
    if any(sign in text.lower() for sign in UNREACHABLE_SIGNS):
        return ModelError(
            f"could not reach {model}: {text}", "check --api-base and that the server is running", kind="unreachable"
        )
    if "Timeout" in name or isinstance(err, asyncio.TimeoutError) or "RateLimit" in name:
        return ModelError(
            f"{model} did not answer in time or is rate limited: {text}",
            "lower --concurrency or retry later",
            kind="transient",
        )
    return ModelError(f"{model} failed: {name}: {text}")


def _check_local_model(model: str) -> None:
    """Fail at once, with the install command, when the embedded model cannot run."""
    import importlib.util

    from search.providers.local import INSTALL_HINT, LocalModelUnavailable, resolve_model_path

    try:
        resolve_model_path(model.removeprefix("local/"))
    except LocalModelUnavailable as err:
        raise ModelError(str(err), INSTALL_HINT if "install" in str(err) else "", kind="local_model") from None
    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelError(
            "llama-cpp-python is not installed, so local models cannot run", INSTALL_HINT, kind="local_model"
        )


_MEASURED = re.compile(r"\b\d+(?:\.\d+)?(?:e-?\d+)?\s?(?:ms|s|MB|KB|GB|x)\b")


def cache_key(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the cache sees it: measured figures in the prompts (test runtime,
    peak memory, seconds to a timeout: `0.3 ms`, `35 MB`) are blanked, because they
    differ on every run and would make a re-run of the same search miss the cache at
    every prompt that shows execution feedback. Everything else counts: the code, the
    verdicts, the failure messages, the model, seed, temperature and limits."""
    messages = [
        {**m, "content": _MEASURED.sub("#", m["content"])} if isinstance(m.get("content"), str) else m
        for m in request.get("messages", [])
    ]
    return {**request, "messages": messages}


class Gateway:
    """Async model access with limits, retries, accounting, budget and cache."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        budget: Budget | None = None,
        limiter: AbstractAsyncContextManager[Any] | None = None,
    ):
        self.config = config or GatewayConfig()
        self.budget = budget or Budget()
        self.usage = Usage()
        self._reserved_calls = 0
        self._limiter = limiter
        """An async context manager shared by several gateways (e.g. one for a whole Ray
        cluster); by default a semaphore of `config.concurrency` for this gateway alone."""
        self._unwritten: dict[int, tuple[Path | None, Completion]] = {}
        """Answers with a place in their batch, cached only once the search keeps them."""
        self._litellm: ModuleType | None = None

    # -- budget -------------------------------------------------------------------------
    def check_budget(self) -> None:
        """Raise BudgetExceeded when no further call fits."""
        b = self.budget
        if b.calls and self._reserved_calls >= b.calls:
            raise BudgetExceeded(f"call budget of {b.calls} reached")
        if b.tokens and self.usage.tokens >= b.tokens:
            raise BudgetExceeded(f"token budget of {b.tokens} reached")
        if b.usd and self.usage.cost_usd >= b.usd:
            raise BudgetExceeded(f"cost budget of ${b.usd:.2f} reached")

    def carry_over(self, usage: dict[str, Any]) -> None:
        """Count what an earlier run of the same search spent (resume): same budget, same totals."""
        self.usage.calls = self._reserved_calls = int(usage.get("calls", 0))
        self.usage.prompt_tokens = int(usage.get("prompt_tokens", 0))
        self.usage.completion_tokens = int(usage.get("completion_tokens", 0))
        self.usage.cost_usd = float(usage.get("cost_usd", 0.0))

    def calls_left(self) -> int | None:
        if not self.budget.calls:
            return None
        return max(0, self.budget.calls - self._reserved_calls)

    # -- cache --------------------------------------------------------------------------
    def _cache_path(self, request: dict[str, Any]) -> Path | None:
        if not self.config.cache_dir:
            return None
        key = hashlib.sha256(json.dumps(cache_key(request), sort_keys=True).encode()).hexdigest()
        return Path(self.config.cache_dir) / key[:2] / f"{key}.json"

    @staticmethod
    def _read_cache(path: Path | None) -> dict[str, Any] | None:
        if path is None or not path.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        except (OSError, ValueError):
            return None  # a torn or foreign file is a miss, not an error

    @staticmethod
    def _write_cache(path: Path | None, completion: Completion) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(completion)))
        os.replace(tmp, path)  # atomic: concurrent runs never read half a file

    # -- the call -----------------------------------------------------------------------
    async def complete(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
        stop: list[str] | None = None,
        code_for: str | None = None,
        cache_when_kept: bool = False,
    ) -> Completion:
        """Ask `model` for one answer. Raises BudgetExceeded or ModelError.

        `code_for`: the function the answer is to write. The embedded model (`local/`) ends
        the answer at the fence that closes a Python block defining it, which is as far as
        a candidate is read (search.parsing); other providers answer in full.
        `cache_when_kept`: an answer with a place in its batch (`batch_order`) is cached only
        when `keep(answer)` says so: a round that ends early (search.round_stop) drops the
        answers after its satisfying one, and a re-run from the cache must not find them."""
        self.check_budget()
        if self.budget.tokens:
            max_tokens = max(1, min(max_tokens, self.budget.tokens - self.usage.tokens))
        self._reserved_calls += 1
        request = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "stop": stop,
            "api_base": self.config.api_base,
        }
        if code_for and model.startswith("local/"):  # it shapes the answer: part of the cache key
            request["code_for"] = code_for
        member = batching.current()
        if member is not None and not _queued_in_provider(model):
            member.group.limit(self.config.concurrency)  # the calls beyond it wait for a slot, not for the batch
        cache_path = self._cache_path(request)
        hit = self._read_cache(cache_path)
        if hit is not None:
            completion = Completion(**{**hit, "cached": True, "cost_usd": 0.0, "latency_s": 0.0, "batch_order": None})
            self.usage.add(completion)
            batching.done_with_first_call()
            return completion
        try:
            completion = await self._call_with_retries(request)
        except asyncio.CancelledError:
            self._reserved_calls -= 1  # cancelled (the request was closed): nothing is counted
            raise
        except BaseException:
            self._reserved_calls -= 1  # nothing was spent (or we cannot know it): free the slot
            self.usage.errors += 1
            raise
        self.usage.add(completion)
        if cache_when_kept and completion.batch_order is not None:
            self._unwritten[id(completion)] = (cache_path, completion)
        else:
            self._write_cache(cache_path, completion)
        return completion

    def keep(self, completion: Completion, kept: bool = True) -> None:
        """Cache an answer held back by `cache_when_kept` (kept), or forget it (dropped)."""
        path, _ = self._unwritten.pop(id(completion), (None, completion))
        if kept:
            self._write_cache(path, completion)

    async def _call_with_retries(self, request: dict[str, Any]) -> Completion:
        model = request["model"]
        if model.startswith("local/"):
            return await _call_local_model(request)
        if self._litellm is None:
            self._litellm = await _load_litellm_in_background()
        litellm = self._litellm
        if self._limiter is None:
            self._limiter = asyncio.Semaphore(self.config.concurrency)
        transient = _transient_errors(litellm)
        kwargs = {k: v for k, v in request.items() if v not in (None, "")}
        kwargs.update(self.config.extra)
        timeout = None if model.startswith("local/") else self.config.timeout_s
        if timeout is not None:
            kwargs["timeout"] = timeout
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                async with self._limiter:
                    response = await asyncio.wait_for(_complete(litellm, kwargs), timeout=timeout)
                return self._to_completion(litellm, model, response, time.perf_counter() - started, attempt)
            except transient as err:
                explained = explain_error(err, model)
                # litellm reports a missing key as a (transient) server error: retrying cannot help
                if attempt >= self.config.retries or explained.kind == "credentials":
                    raise explained from None
                delay = self.config.backoff_s * (2**attempt) * (0.5 + random.random() / 2)
                attempt += 1
                await asyncio.sleep(delay)
            except (asyncio.CancelledError, BudgetExceeded):
                raise
            except Exception as err:  # noqa: BLE001 - every other provider error becomes one message
                raise explain_error(err, model) from None

    @staticmethod
    def _to_completion(litellm: ModuleType, model: str, response: Any, latency: float, retries: int) -> Completion:
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = 0.0
        if not model.startswith(FREE_PROVIDERS):
            try:
                cost = float(litellm.completion_cost(completion_response=response, model=model) or 0.0)
            except Exception:  # noqa: BLE001 - a model without a price costs "unknown", recorded as 0
                cost = 0.0
        return Completion(
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            latency_s=latency,
            finish_reason=str(choice.finish_reason or ""),
            retries=retries,
        )
