"""Scale out on a Ray cluster: candidate evaluations and whole problems run on workers.

Nothing here imports Ray at module level: `import runners.ray_backend` is free, and Ray is
imported only when `connect` (or something that needs the cluster) is called. Install it
with `pip install 'orps[ray]'`; every worker needs orps installed too (same version).

- `connect(address)`: `"local"` starts Ray on this machine (quiet, no dashboard, no usage
  stats); anything else is a cluster address (`ray://host:10001`, `host:6379`, `auto`).
- Project snapshots travel as Ray objects, never through a shared file system: the
  project's files (the same ones `runners.workspace` would copy) are packed into a tar
  once per snapshot, `ray.put` once, and unpacked on a worker into a temp directory
  cached per snapshot hash.
- `RayEvaluator`: the `search.types.Evaluator` whose `evaluate()` runs a Ray task that
  evaluates with a `SandboxEvaluator` local to the worker (bubblewrap on the worker).
- `ModelLimiter`: one async actor holding the cluster-wide model-call concurrency;
  `RayLimiter` wraps it as the async context manager `search.gateway.Gateway` accepts.
  A slot is a lease: a worker that dies holding one does not leak it (the retried task
  frees what its previous attempt held; leases also expire).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from search.types import Evaluation, Task

QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # offline: no usage report
    "RAY_DEDUP_LOGS": "0",
}
WORKER_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "RAY_USAGE_STATS_ENABLED": "0"}
"""Set on every worker (litellm must never fetch its price map over the network)."""
TASK_MAX_RETRIES = 3
"""Attempts after a worker dies (node lost, OOM-killed, crashed) before a task fails."""


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


def _ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed: pip install 'orps[ray]'") from None
    return ray


# -- the cluster ---------------------------------------------------------------------------
def connect(address: str = "local", *, num_cpus: int | None = None) -> dict[str, Any]:
    """Join the cluster at `address` or start one here (`local`). Idempotent. Returns
    `cluster_info()`."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    ray = _ray()
    if not ray.is_initialized():
        common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                      runtime_env={"env_vars": dict(WORKER_ENV)})
        try:
            if address in ("", "local"):
                ray.init(num_cpus=num_cpus, **common)
            else:
                ray.init(address=address, **common)
        except Exception as err:  # noqa: BLE001 - Ray raises many kinds; one clear message
            raise RayUnavailable(f"cannot start or reach Ray at {address!r}: {type(err).__name__}: {err}") from None
    return cluster_info()


def cluster_info() -> dict[str, Any]:
    ray = _ray()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {"name": "ray", "workers": int(ray.cluster_resources().get("CPU", 0)), "nodes": len(nodes)}


def shutdown() -> None:
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()


async def await_ref(ref, *, force_cancel: bool = True):
    """Await a Ray ObjectRef; when the awaiting coroutine is cancelled (Ctrl+C), cancel the
    Ray task too, so no cluster work outlives the driver's interest in it."""
    ray = _ray()
    try:
        return await ref
    except asyncio.CancelledError:
        try:
            ray.cancel(ref, force=force_cancel, recursive=True)
        except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
            pass
        raise


# -- project snapshots ---------------------------------------------------------------------
def pack_project(project: Path) -> tuple[str, bytes]:
    """The project's files (what a workspace copies) as an uncompressed tar, and its hash."""
    from runners.projectfiles import ProjectFiles

    project = Path(project).resolve()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in sorted(ProjectFiles(project).walk().files):  # the one ignore list
            full = project / rel
            info = tar.gettarinfo(str(full), arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with full.open("rb") as f:
                    tar.addfile(info, f)
            elif info.issym():
                tar.addfile(info)
    data = buf.getvalue()
    return hashlib.sha256(data).hexdigest()[:20], data


_unpacked: dict[str, Path] = {}
_unpack_lock = threading.Lock()


def snapshot_root() -> Path:
    return Path(tempfile.gettempdir()) / f"orps-ray-snapshots-{os.getuid()}"


def unpack_project(digest: str, data: bytes | None, fetch=None) -> Path:
    """The directory holding snapshot `digest` on this machine, unpacked once (from `data`,
    or `fetch()` when only a reference was sent) and shared by the worker processes."""
    with _unpack_lock:
        cached = _unpacked.get(digest)
        if cached and cached.is_dir():
            return cached
        target = snapshot_root() / digest
        if not target.is_dir():
            if data is None:
                data = fetch()
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=target.parent))
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                tar.extractall(staging, filter="data")
            try:
                staging.rename(target)  # atomic: another worker process may have won the race
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        _unpacked[digest] = target
        return target


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
    from runners.evaluator import SandboxEvaluator

    key = tuple(sorted(limits.items()))
    ev = _evaluators.get(key)
    if ev is None:
        ev = _evaluators[key] = SandboxEvaluator(workers=1, **limits)
    return ev


def _evaluate_on_worker(method: str, task_data: dict, code: str, kwargs: dict, limits: dict,
                        digest: str, snapshot_refs: list) -> Any:
    """Body of the Ray task: one evaluation (or runtime measurement) on this worker."""
    task = Task.from_dict(task_data)
    if task.kind == "project" and digest:
        ray = _ray()
        task.project = str(unpack_project(digest, None, fetch=lambda: ray.get(snapshot_refs[0])))
    evaluator = worker_evaluator(limits)
    result = run_on_worker(getattr(evaluator, method)(task, code, **kwargs))
    return result.to_dict() if isinstance(result, Evaluation) else result


_remote_cache: dict[str, Any] = {}


def remote_function(name: str, fn, **options):
    """`ray.remote(**options)(fn)`, made once per process (Ray is imported only here)."""
    if name not in _remote_cache:
        _remote_cache[name] = _ray().remote(**options)(fn)
    return _remote_cache[name]


# -- driver side: the evaluator --------------------------------------------------------------
class RayEvaluator:
    """`search.types.Evaluator` that evaluates each candidate in a Ray task (a SandboxEvaluator
    on the worker). Project tasks get the project's snapshot as a Ray object, re-packed
    when the project changes (same rule as the local workspace templates)."""

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 2048, max_retries: int = TASK_MAX_RETRIES):
        self.limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
        self.max_retries = max_retries
        self._snapshots: dict[str, tuple[tuple, str, Any]] = {}  # project -> (fingerprint, digest, ref)

    async def __aenter__(self) -> RayEvaluator:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._snapshots.clear()  # drops the refs: Ray frees the objects

    def _snapshot(self, project: str) -> tuple[str, Any]:
        from runners.projectfiles import ProjectFiles

        fingerprint = ProjectFiles(Path(project)).walk().files
        cached = self._snapshots.get(project)
        if cached and cached[0] == fingerprint:
            return cached[1], cached[2]
        digest, data = pack_project(Path(project))
        ref = _ray().put(data)
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


# -- the cluster-wide model limiter ------------------------------------------------------------
class ModelLimiter:
    """Body of the limiter actor (async: many acquire calls wait at once). A slot is a lease
    owned by a holder (the Ray task attempt's problem) and expires after `lease_s`."""

    def __init__(self, concurrency: int, lease_s: float = 900.0):
        self.capacity = max(1, int(concurrency))
        self.lease_s = lease_s
        self.leases: dict[str, tuple[str, float]] = {}
        self.peak = 0
        self.granted = 0
        self.withdrawn: set[str] = set()
        self.current: dict[str, str] = {}
        self._cond: asyncio.Condition | None = None

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, (_, deadline) in self.leases.items() if deadline < now]:
            del self.leases[token]

    def _live(self, holder: str) -> bool:
        base, _, _ = holder.partition("#")
        return self.current.get(base, holder) == holder

    async def acquire(self, holder: str = "", token: str = "") -> str | None:
        """A slot for `holder` ("problem#attempt"); None when the request was withdrawn
        (`withdraw`) or its attempt is no longer the problem's current one."""
        if self._cond is None:
            self._cond = asyncio.Condition()
        token = token or uuid.uuid4().hex
        async with self._cond:
            while True:
                if token in self.withdrawn or not self._live(holder):
                    self.withdrawn.discard(token)
                    return None
                self._expire()
                if len(self.leases) < self.capacity:
                    break
                try:
                    await asyncio.wait_for(self._cond.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
            self.leases[token] = (holder, time.monotonic() + self.lease_s)
            self.granted += 1
            self.peak = max(self.peak, len(self.leases))
            return token

    async def _notify(self) -> None:
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            self._cond.notify_all()

    async def release(self, token: str) -> None:
        self.leases.pop(token, None)
        await self._notify()

    async def withdraw(self, token: str) -> None:
        """The caller stopped waiting for `token` (cancelled): free it, granted or not."""
        if self.leases.pop(token, None) is None:
            self.withdrawn.add(token)
        await self._notify()

    async def start_attempt(self, holder: str) -> int:
        """`holder` ("problem#attempt") is now the problem's only live attempt: slots held or
        requested by earlier attempts (a worker that died) are freed. Returns how many."""
        base = holder.partition("#")[0]
        self.current[base] = holder
        stale = [t for t, (h, _) in self.leases.items() if h.partition("#")[0] == base and h != holder]
        for token in stale:
            del self.leases[token]
        await self._notify()
        return len(stale)

    async def end_problem(self, holder: str) -> None:
        """The problem is finished: free whatever it still holds, refuse its late requests."""
        base = holder.partition("#")[0]
        self.current[base] = f"{base}#done"
        for token in [t for t, (h, _) in self.leases.items() if h.partition("#")[0] == base]:
            del self.leases[token]
        await self._notify()

    async def stats(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "held": len(self.leases), "peak": self.peak, "granted": self.granted,
                "holders": sorted({h for h, _ in self.leases.values()})}


def start_limiter(concurrency: int, lease_s: float = 900.0):
    """The limiter actor for this run (a handle that can be passed to tasks)."""
    actor_cls = remote_function("limiter", ModelLimiter, num_cpus=0, max_restarts=-1, max_concurrency=1000)
    return actor_cls.remote(concurrency, lease_s)


class RayLimiter:
    """The async context manager a Gateway uses as `limiter`: one slot of the cluster-wide
    limiter per model call. Safe to share between the concurrent calls of a gateway."""

    def __init__(self, actor, holder: str = ""):
        self.actor = actor
        self.holder = holder or uuid.uuid4().hex
        self._tokens: dict[Any, list[str]] = {}

    async def __aenter__(self) -> RayLimiter:
        token = uuid.uuid4().hex
        try:
            granted = await self.actor.acquire.remote(self.holder, token)
        except asyncio.CancelledError:
            self.actor.withdraw.remote(token)  # the grant may still come: give it back
            raise
        if granted is None:
            raise asyncio.CancelledError("this problem attempt is no longer current")
        self._tokens.setdefault(asyncio.current_task(), []).append(token)
        return self

    async def __aexit__(self, *exc) -> None:
        key = asyncio.current_task()
        tokens = self._tokens.get(key) or []
        if tokens:
            token = tokens.pop()
            if not tokens:
                self._tokens.pop(key, None)
            self.actor.release.remote(token)  # sent at once, even if this task is being cancelled


# -- warm-up -------------------------------------------------------------------------------
def _warm_worker() -> int:
    """Import what a task needs (litellm alone takes seconds) so the first real task does not wait."""
    import runners.evaluator  # noqa: F401
    from search.gateway import _litellm

    _litellm()
    return os.getpid()


def warm_up(count: int | None = None) -> list:
    """Start warming `count` worker processes (default: one per cluster CPU); returns the refs."""
    if count is None:
        count = max(1, cluster_info()["workers"])
    fn = remote_function("warm", _warm_worker, num_cpus=1)
    return [fn.remote() for _ in range(count)]
