"""The sandbox's harness modules get their bytecode from orps's cache, never stale."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from runners.project import env as projectenv
from runners.sandbox import bwrap
from runners.testing import harness_bytecode

TAG = sys.implementation.cache_tag


@pytest.fixture
def harness(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(bwrap, "bwrap_works", lambda: (True, ""))
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "_orps_pytest_plugin.py").write_text("ANSWER = 1\n")
    (folder / "_orps_boot.py").write_text("print('a script')\n")
    return folder


def info(magic: str | None = None) -> projectenv.InterpreterInfo:
    return projectenv.InterpreterInfo(
        sys.executable, "3", "8", cache_tag=TAG, magic=magic or importlib.util.MAGIC_NUMBER.hex()
    )


def load(path: Path):
    spec = importlib.util.spec_from_file_location("_probe_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("made_by", ["orps", "the test interpreter"])
def test_modules_get_checked_bytecode_from_the_cache(harness, tmp_path, monkeypatch, made_by):
    interpreter = info()
    if made_by != "orps":  # another bytecode format than ours: that interpreter makes it
        monkeypatch.setattr(harness_bytecode.importlib.util, "MAGIC_NUMBER", b"\0\0\r\n")
    harness_bytecode.provide(harness, sys.executable, interpreter)
    made = harness / "__pycache__" / f"_orps_pytest_plugin.{TAG}.pyc"
    assert made.is_file() and sorted(p.name for p in (harness / "__pycache__").iterdir()) == [made.name]
    assert int.from_bytes(made.read_bytes()[4:8], "little") == 0b11  # hash-based, checked on import
    cached = list((tmp_path / "cache" / "orps" / "bytecode").rglob("*.pyc"))
    assert len(cached) == 1 and cached[0].read_bytes() == made.read_bytes()
    monkeypatch.undo()
    assert load(harness / "_orps_pytest_plugin.py").ANSWER == 1
    # the source changed (another orps): its bytecode no longer matches and is not used
    (harness / "_orps_pytest_plugin.py").write_text("ANSWER = 2\n")
    assert load(harness / "_orps_pytest_plugin.py").ANSWER == 2


def test_nothing_is_provided_without_isolation_or_a_known_format(harness, monkeypatch):
    harness_bytecode.provide(harness, sys.executable, projectenv.InterpreterInfo(sys.executable))
    assert not (harness / "__pycache__").exists()
    monkeypatch.setattr(bwrap, "bwrap_works", lambda: (False, "no namespaces"))
    harness_bytecode.provide(harness, sys.executable, info())  # runs could write the cache there
    assert not (harness / "__pycache__").exists()
