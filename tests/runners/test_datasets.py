"""runners.bench.datasets: the three benchmark CSVs as asserts tasks."""

from __future__ import annotations

import pytest

from runners.bench.datasets import load_dataset


def test_lbpp_uses_the_signature_and_skips_the_canary(datasets):
    tasks = load_dataset(datasets / "lbpp")
    ids = [t.id for t in tasks]
    assert "lbpp/41" not in ids and len(ids) == 161
    first = tasks[0]
    assert first.kind == "asserts" and first.signature and first.entry_point in first.signature
    assert first.tests and first.hidden_tests and first.problem and first.reference_code
    assert "from code import" not in first.test_setup  # renamed: never shadow the stdlib's `code`


def test_mbpp_entry_point_comes_from_the_tests(datasets):
    tasks = load_dataset(datasets / "mbpp_v2", limit=20)
    assert len(tasks) == 20
    for t in tasks:
        assert t.entry_point and any(t.entry_point + "(" in test for test in t.tests + t.hidden_tests), t.id


def test_humaneval_public_and_hidden_tests_differ(datasets):
    tasks = load_dataset(datasets / "humaneval_v2", limit=5)
    assert all(t.tests != t.hidden_tests for t in tasks)
    assert tasks[0].entry_point == "has_close_elements"


def test_selection_by_ids_and_limit(datasets):
    tasks = load_dataset(datasets / "humaneval_v2", ids=["HumanEval/3", "HumanEval/0"])
    assert {t.id for t in tasks} == {"HumanEval/0", "HumanEval/3"}
    assert len(load_dataset(datasets / "mbpp_v2", limit=3)) == 3


def test_clear_errors(datasets, tmp_path):
    with pytest.raises(ValueError, match="missing"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="unknown task ids"):
        load_dataset(datasets / "humaneval_v2", ids=["HumanEval/99999"])
