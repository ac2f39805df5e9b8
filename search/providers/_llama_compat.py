"""llama-cpp-python's private names that orps uses, all here (pyproject.toml bounds its version).

- `Llama._model`, the loaded model's wrapper (`llama_cpp._internals.LlamaModel`), set in
  `Llama.__init__`: its `model` (the native `llama_model *`, set in its `__init__`) and its
  `token_eos`, `token_bos` and `token_get_text`. The batched provider
  (`search.providers.llama_batch`) makes its own context from the native model, to run
  several sequences at once (the public `Llama` has no multi-sequence generation), and
  builds the chat template's special tokens as `create_chat_completion` does.

llama_cpp is imported only by `missing_private_names` (the providers import it when they load
a model). `missing_private_names` lists what the installed llama-cpp-python no longer has
(tests/test_compat.py).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

SET_IN_INIT: dict[str, tuple[str, ...]] = {
    "llama_cpp.Llama": ("_model",),
    "llama_cpp._internals.LlamaModel": ("model",),
}
"""Class -> the private instance attributes its `__init__` sets that this module reads."""
PRIVATE_MEMBERS: dict[str, tuple[str, ...]] = {
    "llama_cpp._internals.LlamaModel": ("token_eos", "token_bos", "token_get_text")
}
"""Class -> the methods of it that this module calls."""


def llama_cpp_version() -> str:
    return version("llama_cpp_python")


def loaded_model(llm: Any) -> Any:
    """The loaded model's wrapper of a `llama_cpp.Llama` (`token_eos`, `token_bos`,
    `token_get_text`)."""
    return llm._model


def native_model(llm: Any) -> Any:
    """The native `llama_model *` of a `llama_cpp.Llama`, for `llama_init_from_model` and
    `llama_model_get_vocab`."""
    return llm._model.model


def _class(dotted: str) -> Any:
    import importlib

    module_name, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name, None)
    except ImportError:  # the module is gone: so is everything of it
        return None


def missing_private_names() -> list[str]:
    """The private names orps relies on that the installed llama-cpp-python lacks
    ("module.Class.name")."""
    import inspect

    missing: list[str] = []
    for dotted, names in SET_IN_INIT.items():
        cls = _class(dotted)
        try:
            source = inspect.getsource(cls.__init__) if cls is not None else ""
        except (OSError, TypeError):  # no source to read: assume nothing
            source = ""
        missing += [f"{dotted}.{name}" for name in names if f"self.{name} =" not in source]
    for dotted, names in PRIVATE_MEMBERS.items():
        cls = _class(dotted)
        missing += [f"{dotted}.{name}" for name in names if not hasattr(cls, name)]
    return missing
