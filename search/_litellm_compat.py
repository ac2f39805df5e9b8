"""litellm's private names that orps uses, all here (litellm is pinned in pyproject.toml).

- `litellm.main._encoding_cache`, read by `litellm.main._get_encoding`: litellm builds its
  default encoding (tiktoken's cl100k_base, 90 to 230 ms holding the GIL) for every
  completion, to hand it to the provider. `defer_default_encoding` puts a stand-in there
  that builds it on first use (the providers orps runs in process never use it).

`missing_private_names` lists what the installed litellm no longer has (tests/test_compat.py).
"""

from __future__ import annotations

from importlib.metadata import version
from types import ModuleType
from typing import Any

PRIVATE_NAMES = {"litellm.main": ("_get_encoding", "_encoding_cache")}
"""Module -> the private names of it that this module relies on."""


def litellm_version() -> str:
    return version("litellm")


def missing_private_names() -> list[str]:
    """The private names orps relies on that the installed litellm lacks ("module.name")."""
    import importlib

    missing = []
    for module_name, names in PRIVATE_NAMES.items():
        module = importlib.import_module(module_name)
        missing += [f"{module_name}.{name}" for name in names if not hasattr(module, name)]
    return missing


class EncodingOnDemand:
    """Stands in for litellm's default encoding (tiktoken's cl100k_base) and builds it at the
    first use of any of its attributes (litellm's own lazy `litellm.main.encoding`, which then
    replaces this stand-in in litellm's cache)."""

    def __init__(self, module: ModuleType):
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module.encoding, name)

    def __repr__(self) -> str:
        return "<litellm's default encoding, built on first use>"


def defer_default_encoding() -> bool:
    """Put the on-demand stand-in in litellm's encoding cache (litellm 1.106 builds its default
    encoding for every completion, in `litellm.main._get_encoding`). When litellm's internals
    differ, leave them alone: the encoding is then built eagerly, as before. True if deferred."""
    import litellm.main as main

    if getattr(main, "_encoding_cache", False) is None and "encoding" not in vars(main):
        main._encoding_cache = EncodingOnDemand(main)  # type: ignore[assignment]  # a stand-in with its attributes
        return True
    return False
