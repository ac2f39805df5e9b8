"""benchmarks/screen_reachable.py: which problems are kept, and the subset `orps bench` reads."""

from __future__ import annotations

import json

from benchmarks.screen_reachable import interleaved, reachable, read_screening, write_subset
from runners.bench.datasets import load_dataset


def record(task_id: str, passed: int, samples: int = 8) -> dict:
    return {"id": task_id, "passed": passed, "samples": samples}


def test_kept_only_when_some_but_not_all_samples_pass():
    assert not reachable(record("a", 0))
    assert reachable(record("a", 1))
    assert reachable(record("a", 7))
    assert not reachable(record("a", 8))


def test_the_subset_is_a_dataset_orps_bench_reads_with_rows_from_both_sources(datasets, tmp_path):
    sources = [datasets / "mbpp_v2", datasets / "humaneval_v2"]
    records = {
        "mbpp/12": record("mbpp/12", 3),
        "mbpp/14": record("mbpp/14", 8),  # always solved: says nothing about a strategy
        "HumanEval/2": record("HumanEval/2", 1),
        "HumanEval/0": record("HumanEval/0", 0),  # never solved
    }
    assert write_subset(records, sources, tmp_path / "subset") == 2
    tasks = {t.id: t for t in load_dataset(tmp_path / "subset")}
    assert sorted(tasks) == ["HumanEval/2", "mbpp/12"]
    full = {t.id: t for t in load_dataset(datasets / "mbpp_v2", ids=["mbpp/12"])}
    assert tasks["mbpp/12"].tests == full["mbpp/12"].tests  # public tests copied unchanged
    assert tasks["mbpp/12"].hidden_tests == full["mbpp/12"].hidden_tests
    assert not list((tmp_path / "subset").glob(".*.tmp"))


def test_a_torn_last_line_is_screened_again(tmp_path):
    path = tmp_path / "screening.jsonl"
    path.write_text(json.dumps(record("mbpp/11", 2)) + "\n" + '{"id": "mbpp/12", "pas')
    assert list(read_screening(path)) == ["mbpp/11"]


def test_datasets_take_turns_so_an_early_stop_covers_both(datasets):
    mbpp = load_dataset(datasets / "mbpp_v2", limit=3)
    humaneval = load_dataset(datasets / "humaneval_v2", limit=1)
    assert [t.id for t in interleaved([mbpp, humaneval])] == [
        mbpp[0].id,
        humaneval[0].id,
        mbpp[1].id,
        mbpp[2].id,
    ]
