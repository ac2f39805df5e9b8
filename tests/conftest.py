"""Shared fixtures: the scripted model, a fast in-process evaluator for engine tests."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest  # noqa: E402

from search.providers import scripted  # noqa: E402

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
"""The benchmark datasets live in ../shared/datasets beside the repository (never a machine path)."""


@pytest.fixture
def datasets() -> Path:
    """The shared datasets folder. Missing, the test fails (it is not skipped): CI must run it."""
    if not (SHARED_DATASETS / "mbpp_v2").is_dir():
        pytest.fail(
            f"the shared datasets are not beside the repository: no {SHARED_DATASETS}/mbpp_v2 "
            "(the tests expect ../shared/datasets next to the checkout)"
        )
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def _user_config_dir(tmp_path_factory, monkeypatch):
    """Each test has its own user config directory (the TUI remembers its theme there)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture(autouse=True)
def _clean_scripts():
    yield
    scripted.unregister_all()


def pytest_sessionfinish(session, exitstatus):
    """Free the embedded model the slow tests loaded in this process before the interpreter's
    shutdown does it noisily ("Exception ignored in Llama.__del__")."""
    import sys

    local = sys.modules.get("search.providers.local")
    if local is not None:
        local.unload_all()
