"""Settings layering, test selection, datasets, and the small CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.config import load_config
from orps_tui.errors import UserError
from runners.bench.datasets import load_dataset
from runners.code.locate import locate
from runners.testing.testselect import NoTestsFound, select_tests

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"


def test_config_layers_and_sources(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.orps]\nsamples = 6\nbeam = 3\nmodel = 'openai/gpt-4o-mini'\n")
    (tmp_path / "orps.toml").write_text("beam = 4\ntimeout = 5\n")
    config = load_config(tmp_path, cli={"model": "scripted/x", "rounds": None})
    s = config.settings
    assert (s.samples, s.beam, s.timeout_s, s.model, s.rounds) == (6, 4, 5.0, "scripted/x", 3)
    assert config.sources["samples"] == "pyproject.toml" and config.sources["beam"] == "orps.toml"
    assert config.sources["model"] == "cli" and config.sources["rounds"] == "default"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[tool.orps]\nsample = 3\n", "unknown key 'sample' (did you mean 'samples'?)"),
        ("[tool.orps]\nsamples = 'many'\n", "samples must be int"),
        ("[tool.orps]\nbeam = 0\n", "beam=0: must be at least 1 (from pyproject.toml)"),
        ("[tool.orps\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_problem(tmp_path, text, message):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(UserError) as info:
        load_config(tmp_path)
    assert message in info.value.message


def test_tests_are_selected_by_reference_to_the_target():
    located = locate(SAMPLE, "src/textkit/words.py::Counter.add")
    selection = select_tests(SAMPLE, located)
    assert selection.node_ids == ["tests/test_words.py::TestCounter::test_add_counts_case_insensitively"]
    assert "c.add(" in selection.source
    slug = select_tests(SAMPLE, locate(SAMPLE, "src/textkit/words.py::slugify"), k="punctuation or runs")
    assert slug.node_ids == ["tests/test_words.py::test_slugify_punctuation", "tests/test_words.py::test_slugify_runs"]


def test_no_tests_found_is_an_error():
    located = locate(SAMPLE, "src/textkit/words.py::_unused_pattern")
    with pytest.raises(NoTestsFound):
        select_tests(SAMPLE, located)
    with pytest.raises(NoTestsFound, match="bad -k expression"):
        select_tests(SAMPLE, locate(SAMPLE, "src/textkit/words.py::slugify"), k="and (")


@pytest.mark.parametrize(
    "name, first, entry",
    [
        ("mbpp_v2", "mbpp/11", "remove_Occ"),
        ("humaneval_v2", "HumanEval/0", "has_close_elements"),
        ("lbpp", "lbpp/0", "add_avg_and_std_cols_numpy"),
    ],
)
def test_datasets_load_with_hidden_tests_apart(datasets, name, first, entry):
    tasks = load_dataset(datasets / name, limit=3)
    assert tasks[0].id == first and tasks[0].entry_point == entry
    assert tasks[0].tests and tasks[0].hidden_tests and tasks[0].tests != tasks[0].hidden_tests
    assert "from code import" not in tasks[0].test_setup


def test_cli_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("solve", "check", "apply", "runs", "bench", "demo", "doctor", "watch"):
        assert command in out


def test_doctor_json_reports_settings_and_sandbox(capsys):
    assert main(["doctor", "--json", "--no-model", "--project", str(SAMPLE)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["values"]["samples"] == 2
    assert report["settings"]["sources"]["samples"] == "pyproject.toml"
    assert "isolation" in report["sandbox"] and report["imports"]["search"]["ours"]


def test_runs_without_runs(tmp_path, capsys):
    assert main(["runs", "--project", str(tmp_path)]) == 0
    assert "no runs yet" in capsys.readouterr().out


def test_bench_rejects_a_non_dataset(tmp_path, capsys):
    assert main(["bench", "--dataset", str(tmp_path)]) == 2
    assert "needs dev.csv and test.csv" in capsys.readouterr().err
