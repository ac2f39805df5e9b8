"""Overhead of the Ray backend per problem against the local backend, on this machine.

Same tiny dataset (written to a temp dir), same instant scripted model, same settings: the
local backend (`BenchRun` with an in-process SandboxEvaluator) and the Ray backend (each
problem a Ray task on a local 2-CPU Ray instance). Ray start-up and the workers' first
imports are measured apart (a "cold" round), then a "warm" round on the same cluster.

    /work/venv/bin/python benchmarks/bench_ray.py [--problems 8] [--cpus 2] [--cluster]

`--cluster`: instead of `ray.init` here, a real cluster of two nodes started with `ray start`
(token authentication on, `--cpus / 2` CPUs each; benchmarks/raykit.py), joined by address.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runners.bench.datasets import load_dataset  # noqa: E402
from runners.bench.run import BenchConfig, BenchRun  # noqa: E402
from search.settings import SearchSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--cluster", action="store_true", help="two nodes started with `ray start` instead of ray.init")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="orps-bench-ray-"))
    cluster = None
    if args.cluster:  # Ray reads its authentication mode when imported: set it first
        import os

        from benchmarks.raykit import LocalCluster

        cluster = LocalCluster(tmp / "rc", cpus_per_node=max(1, args.cpus // 2))
        os.environ.update(cluster.client_env())
    from benchmarks.raykit import write_dataset, write_script
    from runners.bench.ray import RaySolver
    from runners.ray import connect, shutdown
    from runners.testing.evaluator import SandboxEvaluator

    tasks = load_dataset(write_dataset(tmp / "ds", args.problems))
    model = write_script(tmp / "script.py")
    config = BenchConfig(
        "orps", 0, SearchSettings(strategy="orps", model=model, samples=2, beam=1, rounds=1, cache=False)
    )

    def run(name: str, **kw) -> float:
        started = time.perf_counter()
        results = asyncio.run(
            BenchRun(tasks, [config], kw.pop("evaluator", None), tmp / name, concurrency=args.cpus, **kw).run()
        )[config.key]
        wall = time.perf_counter() - started
        assert len(results) == args.problems and not any(r.error for r in results), [r.error for r in results]
        return wall

    run("warmup-local", evaluator=SandboxEvaluator())  # litellm import etc. out of the way
    local = run("local", evaluator=SandboxEvaluator())
    started = time.perf_counter()
    start_label = "ray start (2 nodes)" if cluster else "ray start (ray.init)"
    try:
        if cluster:
            cluster.start()
            cluster.add_node("second")
            cluster.wait_for_nodes(2)
        info = connect(cluster.address if cluster else "local", num_cpus=None if cluster else args.cpus)
        start_s = time.perf_counter() - started
        cold = run("ray-cold", solver=RaySolver(concurrency=args.cpus * 2))
        warm = run("ray-warm", solver=RaySolver(concurrency=args.cpus * 2))
        shutdown()
    finally:
        if cluster:
            cluster.stop()
    n = args.problems
    print(
        f"{n} problems, {info['workers']} CPUs on {info['nodes']} node(s), scripted instant model, "
        f"orps samples=2 beam=1 rounds=1"
    )
    print(f"local backend         {local:7.2f} s   {local / n * 1000:7.0f} ms/problem")
    print(f"{start_label:<21} {start_s:7.2f} s   (once per run)")
    print(
        f"ray backend, cold     {cold:7.2f} s   {cold / n * 1000:7.0f} ms/problem   {cold / local:5.2f}x local "
        f"(workers import litellm on first use)"
    )
    print(
        f"ray backend, warm     {warm:7.2f} s   {warm / n * 1000:7.0f} ms/problem   {warm / local:5.2f}x local   "
        f"overhead {(warm - local) / n * 1000:+.0f} ms/problem"
    )


if __name__ == "__main__":
    main()
