"""A deterministic model for tests and offline demos: `scripted/<name>`.

A script is a function `respond(messages, params) -> str` registered under a name, or
a queue of answers; an `async def respond` is awaited (cancelling the call cancels it).
A script may raise to simulate a provider failure. A name that is
a path to a `.py` file is loaded and its `respond` used, so a subprocess (the CLI under
tmux, say) can be driven by a script too. Nothing here touches the network.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ModelResponse, Usage

from search.threads import in_daemon_thread

Responder = Callable[[list[dict[str, str]], dict[str, Any]], str]

_scripts: dict[str, Responder] = {}
_lock = threading.Lock()


def register_script(name: str, respond: Responder) -> None:
    """Answer calls to `scripted/<name>` with `respond(messages, params)`."""
    with _lock:
        _scripts[name] = respond


def register_queue(name: str, answers: list[str | BaseException]) -> deque[str | BaseException]:
    """Answer calls to `scripted/<name>` with `answers` in order (an exception is raised)."""
    queue: deque[str | BaseException] = deque(answers)

    def respond(messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        if not queue:
            raise RuntimeError(f"scripted/{name}: no answers left in the queue")
        answer = queue.popleft()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    register_script(name, respond)
    return queue


def unregister_all() -> None:
    with _lock:
        _scripts.clear()


def _load_file_script(path: str) -> Responder:
    spec = importlib.util.spec_from_file_location(f"orps_script_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"scripted model file {path!r} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    respond: Callable[[list[dict[str, str]], dict[str, Any]], str] = module.respond
    return respond


def lookup(name: str) -> Responder:
    with _lock:
        respond = _scripts.get(name)
    if respond is not None:
        return respond
    if name.endswith(".py") and Path(name).is_file():
        respond = _load_file_script(name)
        register_script(name, respond)
        return respond
    raise ValueError(f"scripted model {name!r} is not registered (LLM Provider NOT provided)")


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: words. Deterministic, which is all tests need."""
    return len(text.split())


class ScriptedLLM(CustomLLM):
    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        api_base: Any,
        custom_prompt_dict: Any,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        respond = lookup(model)
        text = respond(messages, dict(optional_params))
        return self._response(model, messages, text, optional_params, model_response)

    @staticmethod
    def _response(
        model: str,
        messages: list[dict[str, Any]],
        text: str,
        optional_params: dict[str, Any],
        model_response: ModelResponse,
    ) -> ModelResponse:
        max_tokens = optional_params.get("max_tokens")
        finish: Any = "stop"  # litellm types it as a Literal of the reasons
        words = list(re.finditer(r"\S+", text))
        if max_tokens and len(words) > max_tokens:
            # Mimic a real model cut off at its token limit (layout of the kept part intact).
            text = text[: words[max_tokens - 1].end()]
            finish = "length"
        model_response.choices[0].message.content = text
        model_response.choices[0].finish_reason = finish
        model_response.model = f"scripted/{model}"
        prompt = sum(count_tokens(str(m.get("content", ""))) for m in messages)
        completion = count_tokens(text)
        model_response.usage = Usage(  # type: ignore[attr-defined]  # litellm sets usage dynamically
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
        )
        return model_response

    async def acompletion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        api_base: Any,
        custom_prompt_dict: Any,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        respond = lookup(model)
        if inspect.iscoroutinefunction(respond):
            # An async script is awaited here, so cancelling the call cancels it: a script
            # that sleeps is a model that stays busy until cancelled.
            text = await respond(messages, dict(optional_params))
            return self._response(model, messages, text, optional_params, model_response)
        # In a thread, like a real provider's I/O, so concurrency limits are observable; a
        # daemon thread of its own, like the local model's (a blocking script is a model whose
        # prompt evaluation a cancel cannot interrupt).
        response: ModelResponse = await in_daemon_thread(
            self.completion,
            model,
            messages,
            api_base,
            custom_prompt_dict,
            model_response,
            print_verbose,
            encoding,
            api_key,
            logging_obj,
            optional_params,
            *args,
            name="orps-scripted-model",
            **kwargs,
        )
        return response
