"""benchmarks/bench_agreement.py: re-selection among recorded candidates, judged on hidden tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_agreement import candidate_nodes, read_results

ROOT = Path(__file__).resolve().parents[2]
ONE = "def bell_number(n):\n    return 1\n"
TABLE = (
    "def bell_number(n):\n    bell = [[0] * (n + 1) for _ in range(n + 1)]\n    bell[0][0] = 1\n"
    "    for i in range(1, n + 1):\n        bell[i][0] = bell[i - 1][i - 1]\n"
    "        for j in range(1, i + 1):\n            bell[i][j] = bell[i - 1][j - 1] + bell[i][j - 1]\n"
    "    return bell[n][0]\n"
)
SUMS = (
    "from math import comb\n\ndef bell_number(n):\n    b = [1]\n    for m in range(n):\n"
    "        b.append(sum(comb(m, k) * b[k] for k in range(m + 1)))\n    return b[n]\n"
)


def row() -> dict:
    """mbpp/67 (public: bell_number(0) == 1 and bell_number(1) == 1) as `orps bench` records
    it: the answer chosen was `return 1`, tied with two real implementations."""
    candidates = [
        {"id": f"0-{i}", "round": 0, "pass_rate": 1.0, "all_passed": True, "code": c}
        for i, c in enumerate([ONE, TABLE, SUMS])
    ]
    candidates.append(
        {"id": "0-3", "round": 0, "pass_rate": 0.5, "all_passed": False, "code": "def bell_number(n):\n    return n\n"}
    )
    return {
        "id": "mbpp/67",
        "strategy": "orps",
        "budget_calls": 12,
        "solved_public": True,
        "passed_hidden": False,
        "code": ONE,
        "error": "",
        "extra": {"candidates": candidates},
    }


def test_recorded_candidates_become_nodes_with_the_recorded_answer_first_among_ties(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(row()) + "\n{torn")
    rows = read_results(path)
    assert len(rows) == 1
    nodes = candidate_nodes(rows[0])
    assert [n.pass_rate for n in nodes] == [1.0, 1.0, 1.0, 0.5]
    assert nodes[0].runtime < nodes[1].runtime  # the recorded answer keeps what agreement leaves tied


@pytest.mark.slow
def test_agreement_rescues_the_special_case_on_hidden_tests(tmp_path):
    results = tmp_path / "run" / "results.jsonl"
    results.parent.mkdir()
    results.write_text(json.dumps(row()) + "\n")
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_agreement.py", str(results), "--json", str(tmp_path / "figures.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("run orps@12"))
    assert line.split()[2:7] == ["1", "1", "1", "1", "1"]  # problems, recorded, ties, probed, changed
    assert "0.0% ( 0)" in line and "100.0% ( 1)" in line
    figures = json.loads((tmp_path / "figures.json").read_text())["run orps@12"]
    assert figures["details"][0]["chosen"] in ("0-1", "0-2") and figures["details"][0]["agreement"] is True
