"""litellm custom providers that run in this process: `local/...` and `scripted/...`."""

from __future__ import annotations

from typing import Any

_registered = False


def register_providers(litellm: Any) -> None:  # the litellm module
    """Make `local/<name-or-path.gguf>` and `scripted/<name>` known to litellm (once)."""
    global _registered
    if _registered:
        return
    from search.providers.local_litellm import LocalLLM
    from search.providers.scripted import ScriptedLLM

    others = [p for p in litellm.custom_provider_map if p.get("provider") not in ("local", "scripted")]
    litellm.custom_provider_map = others + [
        {"provider": "local", "custom_handler": LocalLLM()},
        {"provider": "scripted", "custom_handler": ScriptedLLM()},
    ]
    _registered = True
