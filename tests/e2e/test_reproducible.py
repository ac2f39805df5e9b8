"""The same seed gives the same search with the real embedded model: the demo run twice
without the model cache builds the same tree (the same batches, prompts and answers)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from orps_tui.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="the local extra is not installed"),
]


def demo_tree(root: Path, capsys) -> list[dict]:
    code = main(
        [
            "demo",
            "--dir",
            str(root),
            "--json",
            "--quiet",
            "--no-cache",
            "--seed",
            "5",
            "--samples",
            "3",
            "--rounds",
            "1",
            "--max-tokens",
            "96",
            "--budget-calls",
            "6",
            "--timeout",
            "120",
        ]
    )  # a loaded machine must not turn a pass into a timeout in one run only
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 1), doc
    tree = json.loads((Path(doc["run_dir"]) / "tree.json").read_text())["nodes"]
    measured = ("evaluation", "usage", "notes")  # runtimes and timings differ from run to run
    return sorted(
        (
            {k: v for k, v in node.items() if k not in measured}
            | {
                "passed": (node.get("evaluation") or {}).get("passed"),
                "verdict": (node.get("evaluation") or {}).get("verdict"),
                "completion_tokens": (node.get("usage") or {}).get("completion_tokens"),
            }
            for node in tree
        ),
        key=lambda n: n["id"],
    )


def test_the_demo_twice_with_the_same_seed_and_no_cache_builds_the_same_tree(tmp_path, capsys):
    first = demo_tree(tmp_path / "one", capsys)
    second = demo_tree(tmp_path / "two", capsys)

    def outline(tree):
        return [(n["id"], n["parent"], n["verdict"], n["passed"], n["completion_tokens"]) for n in tree]

    assert outline(first) == outline(second)
    assert first == second
    assert sum(1 for n in first if n["raw_answer"]) >= 3  # the model really answered
