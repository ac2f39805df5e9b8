"""Settings resolution: defaults < [tool.orps] < orps.toml < CLI flags, with sources and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orps_tui.config import load_config
from orps_tui.errors import UserError
from search.settings import SearchSettings

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"


def test_layers_and_sources(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n\n[tool.orps]\nsamples = 6\nbeam = 3\nmodel = 'openai/gpt-4o-mini'\n"
        "tests = ['tests/test_a.py']\ntarget = 'a.py::f'\n"
    )
    (tmp_path / "orps.toml").write_text("beam = 4\ntimeout = 5\nk = 'fast'\ntemperature = 1\n")
    config = load_config(tmp_path, cli={"model": "scripted/x", "rounds": None, "tests": ["tests/test_b.py"]})
    s = config.settings
    assert (s.samples, s.beam, s.timeout_s, s.model, s.rounds, s.temperature) == (6, 4, 5.0, "scripted/x", 3, 1.0)
    assert isinstance(s.temperature, float)
    assert config.sources["samples"] == "pyproject.toml" and config.sources["beam"] == "orps.toml"
    assert config.sources["model"] == "cli" and config.sources["rounds"] == "default"
    assert config.extras == {"tests": ["tests/test_b.py"], "target": "a.py::f", "k": "fast"}
    assert (config.sources["tests"], config.sources["target"], config.sources["k"]) == (
        "cli",
        "pyproject.toml",
        "orps.toml",
    )


def test_no_files_gives_defaults(tmp_path):
    config = load_config(tmp_path)
    assert config.settings == SearchSettings(critic=False)  # the embedded model: see below
    assert {v.split(",")[0] for v in config.sources.values()} == {"default"}


def test_the_critic_is_off_by_default_only_where_it_would_be_the_embedded_model(tmp_path):
    # SmolLM2's critic answers never held a score: each critic call would cost a programmer call.
    config = load_config(tmp_path)
    assert config.settings.critic is False
    assert config.sources["critic"].startswith("default, off: the embedded model gives the critic no usable score")
    assert load_config(tmp_path, cli={"model": "openai/gpt-4o-mini"}).settings.critic is True
    assert load_config(tmp_path, cli={"critic_model": "openai/gpt-4o-mini"}).settings.critic is True
    (tmp_path / "orps.toml").write_text("critic = true\n")  # said in so many words: kept
    assert load_config(tmp_path).settings.critic is True


def test_orps_toml_may_use_an_orps_table(tmp_path):
    (tmp_path / "orps.toml").write_text("[orps]\nsamples = 9\n")
    assert load_config(tmp_path).settings.samples == 9


def test_preset_then_explicit_keys(tmp_path):
    (tmp_path / "orps.toml").write_text("preset = 'paper'\nbeam = 2\n")
    config = load_config(tmp_path)
    assert (config.settings.samples, config.settings.beam) == (20, 2)
    assert config.sources["samples"] == "orps.toml (preset paper)" and config.sources["beam"] == "orps.toml"


def test_sample_project_config():
    config = load_config(SAMPLE)
    assert config.settings.samples == 2 and config.sources["samples"] == "pyproject.toml"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("orps.toml", "sample = 3\n", "orps.toml: unknown key 'sample' (did you mean 'samples'?)"),
        (
            "pyproject.toml",
            "[tool.orps]\nsample = 3\n",
            "pyproject.toml: unknown key 'sample' (did you mean 'samples'?)",
        ),
        ("pyproject.toml", "[tool.orps]\nsamples = 'many'\n", "samples must be int"),
        ("pyproject.toml", "[tool.orps]\nsamples = true\n", "samples must be int"),
        ("pyproject.toml", "[tool.orps]\ncache = 1\n", "cache must be true or false"),
        ("orps.toml", "tests = 'tests/test_a.py'\n", "tests must be a list of strings"),
        ("orps.toml", "tests = [1]\n", "tests must be a list of strings"),
        ("pyproject.toml", "[tool.orps]\nbeam = 0\n", "beam=0: must be at least 1 (from pyproject.toml)"),
        ("orps.toml", "strategy = 'greedy'\n", "strategy='greedy': choose one of orps"),
        ("pyproject.toml", "[tool.orps\n", "pyproject.toml is not valid TOML"),
        ("orps.toml", "preset = 'huge'\n", "unknown preset 'huge'"),
        ("pyproject.toml", "[tool]\norps = 3\n", "[tool.orps] must be a table"),
    ],
)
def test_errors_name_the_problem(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError) as info:
        load_config(tmp_path)
    assert message in info.value.message


def test_cli_values_are_checked_too(tmp_path):
    with pytest.raises(UserError, match="from cli"):
        load_config(tmp_path, cli={"samples": 0})
