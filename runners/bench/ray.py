"""`orps bench --ray`: each problem is one Ray task running `runners.bench.run.solve_problem` on a
worker, with the worker's own SandboxEvaluator and a gateway whose model calls go through the
cluster-wide limiter actor (so the cluster never exceeds `--concurrency` calls at once).

The driver keeps everything else: `BenchRun` appends each result to results.jsonl as it
arrives (so `--resume` works the same), and Ctrl+C cancels the outstanding Ray tasks. A
worker that dies mid-problem has its problem re-run elsewhere (Ray `max_retries`); the
retried attempt first frees any model slot the dead attempt held.

Ray itself is imported only when `runners.ray` connects, and this module only with `--ray`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from runners.bench.run import BenchConfig, ProblemResult, solve_problem

# Everything this module takes from the Ray backend, in one place.
from runners.ray import (
    TASK_MAX_RETRIES,
    RayLimiter,
    await_ref,
    remote_function,
    run_on_worker,
    start_limiter,
    worker_evaluator,
)
from search.gateway import ModelError
from search.types import Task


def _usable_cache_dir(cache_dir: str) -> str:
    """The driver's cache path when this machine can write there (same machine, shared disk),
    else a per-machine directory: the cache is only an accelerator."""
    if not cache_dir:
        return ""
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        if os.access(cache_dir, os.W_OK):
            return cache_dir
    except OSError:
        pass
    digest = hashlib.sha256(cache_dir.encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"orps-ray-cache-{os.getuid()}" / digest)


def _solve_on_worker(task_data: dict, config_data: dict, cache_dir: str, limits: dict, limiter, holder: str) -> dict:
    """Body of the Ray task: one problem, start to finish, on this worker."""

    async def main() -> dict:
        attempt = f"{holder}#{os.getpid()}"
        await limiter.start_attempt.remote(attempt)  # frees slots a dead previous attempt held
        task, config = Task.from_dict(task_data), BenchConfig.from_dict(config_data)
        evaluator = worker_evaluator(limits)
        try:
            result = await solve_problem(
                task, config, evaluator, _usable_cache_dir(cache_dir), limiter=RayLimiter(limiter, attempt)
            )
        except ModelError as err:  # only fatal ones leave solve_problem: the driver stops the benchmark
            return {"__fatal__": {"message": err.message, "hint": err.hint, "kind": err.kind}}
        except Exception as err:  # noqa: BLE001 - recorded exactly as the local BenchRun does
            return {"__error__": f"{type(err).__name__}: {err}"}
        finally:
            await limiter.end_problem.remote(attempt)
        return result.to_dict()

    return run_on_worker(main())


class RaySolver:
    """A `BenchRun` solver that runs each problem as a Ray task (see the module docstring)."""

    def __init__(
        self, *, timeout_s: float = 10.0, memory_mb: int = 2048, concurrency: int = 4, max_retries: int | None = None
    ):
        self.limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
        self.max_retries = TASK_MAX_RETRIES if max_retries is None else max_retries
        self.limiter = start_limiter(concurrency)

    async def stats(self) -> dict[str, Any]:
        return await self.limiter.stats.remote()

    async def __call__(self, task: Task, config: BenchConfig, evaluator, cache_dir: str) -> ProblemResult:
        fn = remote_function(
            "solve_problem", _solve_on_worker, num_cpus=1, max_retries=self.max_retries, retry_exceptions=False
        )
        holder = f"{config.key}/{task.id}/{uuid.uuid4().hex[:8]}"
        cache = str(Path(cache_dir).resolve()) if cache_dir else ""
        data = await await_ref(fn.remote(task.to_dict(), config.to_dict(), cache, self.limits, self.limiter, holder))
        if "__fatal__" in data:
            raise ModelError(**data["__fatal__"])
        if "__error__" in data:
            return ProblemResult.failed(task, config, data["__error__"])
        return ProblemResult(**{k: v for k, v in data.items() if k in ProblemResult.__dataclass_fields__})
