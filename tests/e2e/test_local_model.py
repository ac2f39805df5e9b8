"""The embedded model for real: llama-cpp in process, through litellm and the gateway."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.schema import validate
from search.gateway import Gateway, GatewayConfig, ModelError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="the local extra is not installed"),
]


async def test_local_smollm2_answers_with_accounting():
    gateway = Gateway(GatewayConfig())
    messages = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]
    first = await gateway.complete("local/smollm2", messages, temperature=0.0, max_tokens=48, seed=1)
    assert first.text.strip() and first.completion_tokens > 0 and first.prompt_tokens > 0
    assert first.cost_usd == 0.0 and first.completion_tokens <= 48


async def test_unknown_gguf_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no GGUF file"):
        await Gateway(GatewayConfig()).complete(
            "local/" + str(tmp_path / "missing.gguf"), [{"role": "user", "content": "hi"}]
        )


def test_demo_headless_json_runs_the_real_model(tmp_path, capsys):
    code = main(
        [
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--json",
            "--quiet",
            "--samples",
            "2",
            "--rounds",
            "1",
            "--max-tokens",
            "96",
            "--budget-calls",
            "4",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    validate("solve", doc)
    assert code == 0
    assert doc["usage"]["calls"] >= 1 and doc["usage"]["completion_tokens"] > 0  # a round may stop at its first answer
    run_dir = Path(doc["run_dir"])
    for name in ("task.json", "settings.json", "events.jsonl", "tree.json", "result.json", "meta.json"):
        assert (run_dir / name).is_file(), name
    tree = json.loads((run_dir / "tree.json").read_text())
    assert {
        "id",
        "parent",
        "round",
        "style",
        "reasoning",
        "code",
        "evaluation",
        "critique",
        "process_score",
        "outcome_score",
        "usage",
    } <= set(tree["nodes"][0])
