"""`RayEvaluator`: the `search.types.Evaluator` whose `evaluate()` runs a Ray task that
evaluates with a `SandboxEvaluator` local to the worker (bubblewrap on the worker), and the
worker side of that task (`worker_evaluator`, `run_on_worker`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from runners.ray.cluster import TASK_MAX_RETRIES, await_ref, remote_function, require_ray
from runners.ray.snapshot import pack_project, unpack_project
from search.types import Evaluation, Task

# -- worker side ---------------------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_evaluators: dict[tuple, Any] = {}


def run_on_worker(coro):
    """Run a coroutine on this worker process's own event loop (kept between tasks, so the
    evaluator's semaphores and caches stay bound to one loop)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


def worker_evaluator(limits: dict[str, Any]):
    """This worker process's SandboxEvaluator for `limits` (one per process: its project
    templates stay warm between tasks)."""
    from runners.testing.evaluator import SandboxEvaluator

    key = tuple(sorted(limits.items()))
    ev = _evaluators.get(key)
    if ev is None:
        ev = _evaluators[key] = SandboxEvaluator(workers=1, **limits)
    return ev


def _evaluate_on_worker(
    method: str, task_data: dict, code: str, kwargs: dict, limits: dict, digest: str, snapshot_refs: list
) -> Any:
    """Body of the Ray task: one evaluation (or runtime measurement) on this worker."""
    task = Task.from_dict(task_data)
    if task.kind == "project" and digest:
        ray = require_ray()
        task.project = str(unpack_project(digest, None, fetch=lambda: ray.get(snapshot_refs[0])))
    evaluator = worker_evaluator(limits)
    result = run_on_worker(getattr(evaluator, method)(task, code, **kwargs))
    return result.to_dict() if isinstance(result, Evaluation) else result


# -- driver side: the evaluator --------------------------------------------------------------
class RayEvaluator:
    """`search.types.Evaluator` that evaluates each candidate in a Ray task (a SandboxEvaluator
    on the worker). Project tasks get the project's snapshot as a Ray object, re-packed
    when the project changes (same rule as the local workspace templates)."""

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 2048, max_retries: int = TASK_MAX_RETRIES):
        self.limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
        self.max_retries = max_retries
        self._snapshots: dict[str, tuple[Any, str, Any]] = {}  # project -> (fingerprint, digest, ref)

    async def __aenter__(self) -> RayEvaluator:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._snapshots.clear()  # drops the refs: Ray frees the objects

    def _snapshot(self, project: str) -> tuple[str, Any]:
        from runners.project.files import ProjectFiles

        fingerprint = ProjectFiles(Path(project)).walk().files
        cached = self._snapshots.get(project)
        if cached and cached[0] == fingerprint:
            return cached[1], cached[2]
        digest, data = pack_project(Path(project))
        ref = require_ray().put(data)
        self._snapshots[project] = (fingerprint, digest, ref)
        return digest, ref

    async def _call(self, method: str, task: Task, code: str, **kwargs) -> Any:
        digest, refs = "", []
        if task.kind == "project":
            digest, ref = await asyncio.to_thread(self._snapshot, task.project)
            refs = [ref]  # inside a list: the worker fetches it only when not unpacked yet
        fn = remote_function("evaluate", _evaluate_on_worker, num_cpus=1, max_retries=self.max_retries)
        return await await_ref(fn.remote(method, task.to_dict(), code, kwargs, self.limits, digest, refs))

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False, repeat: int = 1) -> Evaluation:
        data = await self._call("evaluate", task, code, hidden=hidden, repeat=repeat)
        return Evaluation.from_dict(data)

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        return await self._call("measure_runtime", task, code, repeats=repeats)
