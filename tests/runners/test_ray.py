"""The Ray backend on a local 2-CPU Ray instance: the same per-problem results as a local run,
and a worker killed mid-problem does not lose the problem (nor a model slot).

Skipped when Ray is not installed (CI installs `.[local,dev]` only). One Ray instance for the
module: starting Ray takes ~20 s here, and a worker's first import of litellm ~10 s more.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray")

pytestmark = pytest.mark.slow

from benchmarks.raykit import write_dataset, write_script  # noqa: E402
from orps_tui.schema import validate  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from runners.ray import connect, shutdown, warm_up

    info = connect("local", num_cpus=2)
    warm_up(2)  # workers import litellm while the local baseline runs
    yield info
    shutdown()


def bench(tmp: Path, dataset: Path, model: str, *extra: str) -> dict:
    from orps_tui.cli import main

    out = tmp / "out"
    code = main(
        [
            "bench",
            "--dataset",
            str(dataset),
            "--model",
            model,
            "--samples",
            "2",
            "--beam",
            "1",
            "--rounds",
            "1",
            "--out",
            str(out),
            "--json",
            str(tmp / "report.json"),
            *extra,
        ]
    )
    assert code == 0
    doc = json.loads((tmp / "report.json").read_text())
    validate("bench", doc)
    return doc


def per_problem(doc: dict) -> dict:
    return {
        p["id"]: (p["solved_public"], p["passed_hidden"], p["hidden_passed"], p["calls"], p["error"])
        for p in doc["problems"]
    }


def test_same_results_with_and_without_ray(cluster, tmp_path):
    dataset = write_dataset(tmp_path / "ds", 4)
    model = write_script(tmp_path / "script.py")
    local = bench(tmp_path / "local", dataset, model, "--concurrency", "2")
    remote = bench(tmp_path / "ray", dataset, model, "--ray", "local", "--concurrency", "2")
    assert local["backend"] == "local" and remote["backend"] == "ray"
    assert remote["workers"] == 2 and remote["nodes"] == 1
    assert per_problem(remote) == per_problem(local)
    assert [p["passed_hidden"] for p in remote["problems"]] == [False, True, False, True]
    lines = (tmp_path / "ray" / "out" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == ["t/0", "t/1", "t/2", "t/3"]


async def test_killed_worker_is_retried_and_no_model_slot_leaks(cluster, tmp_path):
    from runners.bench.datasets import load_dataset
    from runners.bench.ray import RaySolver
    from runners.bench.run import BenchConfig, BenchRun
    from search.settings import SearchSettings

    marker = tmp_path / "killed"
    model = write_script(tmp_path / "script.py", marker=str(marker))
    tasks = load_dataset(write_dataset(tmp_path / "ds", 3))
    settings = SearchSettings(strategy="orps", model=model, samples=2, beam=1, rounds=1, cache=True)
    config = BenchConfig("orps", 0, settings)
    solver = RaySolver(timeout_s=10, concurrency=1)  # one slot: a leaked lease would hang the run
    by_config = await BenchRun(tasks, [config], None, tmp_path / "out", concurrency=2, solver=solver).run()
    results = by_config[config.key]
    assert marker.exists()  # a worker really died
    assert [r.id for r in results] == ["t/0", "t/1", "t/2"]
    assert all(not r.error for r in results), [r.error for r in results]
    assert [r.passed_hidden for r in results] == [False, True, False]
    stats = await solver.stats()
    assert stats["held"] == 0 and stats["peak"] <= 1


def test_solve_evaluates_on_ray_with_a_project_snapshot(cluster, tmp_path):
    import asyncio

    from runners.ray import RayEvaluator
    from search.types import Task

    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "mod.py").write_text("def double(x):\n    return x + x\n")
    (project / "tests" / "test_mod.py").write_text(
        "from mod import double\n\ndef test_double():\n    assert double(3) == 6\n"
    )
    task = Task(
        id="p",
        problem="double",
        entry_point="double",
        kind="project",
        target="mod.py::double",
        project=str(project),
        tests=["tests/test_mod.py::test_double"],
    )

    async def both():
        ev = RayEvaluator(timeout_s=10)
        good = await ev.evaluate(task, "def double(x):\n    return 2 * x\n")
        bad = await ev.evaluate(task, "def double(x):\n    return x\n")
        return good, bad

    good, bad = asyncio.run(both())
    assert good.verdict == "passed" and good.passed == 1, good.message
    assert bad.verdict == "failed"
