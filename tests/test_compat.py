"""The third-party private names orps relies on are still there in the installed versions,
and when one is gone the failure names it and the library's version."""

from __future__ import annotations

import pytest

from orps_tui import _textual_compat
from search import _litellm_compat


def test_textual_still_has_every_private_name_orps_uses():
    missing = _textual_compat.missing_private_names()
    assert missing == [], (
        f"textual {_textual_compat.textual_version()} no longer has {', '.join(missing)}: "
        "update orps_tui/_textual_compat.py and the code that uses it"
    )


def test_litellm_still_has_every_private_name_orps_uses():
    import search.gateway  # noqa: F401 - litellm then reads its bundled cost map, not the network

    missing = _litellm_compat.missing_private_names()
    assert missing == [], (
        f"litellm {_litellm_compat.litellm_version()} no longer has {', '.join(missing)}: "
        "update search/_litellm_compat.py and the code that uses it"
    )


def test_llama_cpp_still_has_every_private_name_orps_uses():
    pytest.importorskip("llama_cpp")
    from search.providers import _llama_compat

    missing = _llama_compat.missing_private_names()
    assert missing == [], (
        f"llama-cpp-python {_llama_compat.llama_cpp_version()} no longer has {', '.join(missing)}: "
        "update search/providers/_llama_compat.py and the code that uses it"
    )


def test_a_private_llama_cpp_name_that_is_gone_is_reported_by_its_full_name(monkeypatch):
    pytest.importorskip("llama_cpp")
    from search.providers import _llama_compat

    monkeypatch.setitem(_llama_compat.SET_IN_INIT, "llama_cpp.Llama", ("_model", "_no_such"))
    monkeypatch.setitem(
        _llama_compat.PRIVATE_MEMBERS, "llama_cpp._internals.LlamaModel", ("token_eos", "no_such_method")
    )
    monkeypatch.setitem(_llama_compat.PRIVATE_MEMBERS, "llama_cpp._no_such_module.Thing", ("x",))
    assert _llama_compat.missing_private_names() == [
        "llama_cpp.Llama._no_such",
        "llama_cpp._internals.LlamaModel.no_such_method",
        "llama_cpp._no_such_module.Thing.x",
    ]


def test_only_the_llama_compat_module_reads_llama_cpps_private_model():
    """`._model` of a `Llama` is read in search/providers/_llama_compat.py alone."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    found = [
        f"{path.relative_to(repo)}:{node.lineno}"
        for path in (repo / "search").rglob("*.py")
        if path.name != "_llama_compat.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr == "_model"
    ]
    assert found == []


def test_a_private_textual_import_that_is_gone_names_itself_and_the_version():
    with pytest.raises(ImportError) as raised:
        _textual_compat._private("textual._two_way_dict", "NoSuchName")
    message = str(raised.value)
    assert "textual._two_way_dict.NoSuchName" in message
    assert f"textual {_textual_compat.textual_version()}" in message


def test_a_private_member_that_is_gone_is_reported_by_its_full_name(monkeypatch):
    monkeypatch.setitem(_textual_compat.PRIVATE_MEMBERS, "textual.widgets.Footer", ("_bindings_ready", "_no_such"))
    monkeypatch.setitem(_textual_compat.PRIVATE_IMPORTS, "textual._no_such_module", ("Thing",))
    assert _textual_compat.missing_private_names() == [
        "textual._no_such_module.Thing",
        "textual.widgets.Footer._no_such",
    ]


def test_a_private_litellm_name_that_is_gone_is_reported_by_its_full_name(monkeypatch):
    import search.gateway  # noqa: F401 - litellm then reads its bundled cost map, not the network

    monkeypatch.setitem(_litellm_compat.PRIVATE_NAMES, "litellm.main", ("_get_encoding", "_no_such"))
    assert _litellm_compat.missing_private_names() == ["litellm.main._no_such"]


def test_the_compat_modules_are_where_the_private_names_are_imported():
    """No other module of the packages imports from Textual's or litellm's private modules."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    found = []
    for path in [p for pkg in ("orps_tui", "search", "runners") for p in (repo / pkg).rglob("*.py")]:
        if path.name in ("_textual_compat.py", "_litellm_compat.py") or "example" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            found += [
                f"{path.relative_to(repo)}: {m}"
                for m in modules
                if m.split(".")[0] in ("textual", "litellm") and any(part.startswith("_") for part in m.split("."))
            ]
    assert found == []
