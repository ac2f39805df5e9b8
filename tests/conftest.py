"""Shared fixtures: the scripted model, a fast in-process evaluator for engine tests."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest  # noqa: E402

from search.providers import scripted  # noqa: E402


@pytest.fixture(autouse=True)
def _user_config_dir(tmp_path_factory, monkeypatch):
    """Each test has its own user config directory (the TUI remembers its theme there)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture(autouse=True)
def _clean_scripts():
    yield
    scripted.unregister_all()
