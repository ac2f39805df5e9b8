"""The embedded model as a litellm custom provider (`local/...`), for callers that go
through litellm; search.gateway calls search.providers.local directly."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ModelResponse, Usage

from search.providers import local
from search.threads import in_daemon_thread


class LocalLLM(CustomLLM):
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
        out = local.generate(
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
        model_response.usage = Usage(  # type: ignore[attr-defined]  # litellm declares it on the response dynamically
            prompt_tokens=u.get("prompt_tokens", 0),
            completion_tokens=u.get("completion_tokens", 0),
            total_tokens=u.get("total_tokens", 0),
        )
        return model_response

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        cancel = threading.Event()
        try:
            # Not asyncio.to_thread: a prompt evaluation does not see the cancel flag, and
            # asyncio.run would wait for it at exit (search.threads).
            return await in_daemon_thread(self.completion, *args, cancel=cancel, name="orps-local-model", **kwargs)
        except asyncio.CancelledError:
            cancel.set()  # the thread cannot be cancelled, but it stops at its next token
            raise
