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
- `ModelLimiter`: one async actor (on the head node) holding the cluster-wide model-call
  concurrency; `RayLimiter` wraps it as the async context manager `search.gateway.Gateway`
  accepts. A slot is a lease: a worker that dies holding one does not leak it (the retried
  task frees what its previous attempt held; a lost node's leases are freed; leases expire).
- `model_env_vars`: the driver's variables a model needs on the workers (sent in the job's
  runtime_env by `connect(env_vars=...)`); `check_cluster`: what `orps doctor --ray` reports.
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

from search.gateway import FREE_PROVIDERS
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


# -- what the workers' model calls need ------------------------------------------------------
def provider_prefixes(model: str) -> set[str]:
    """The environment variable prefixes of `model`'s litellm provider: its name ("OPENAI_",
    "HOSTED_VLLM_") and those of the keys litellm requires for it ("AWS_" for bedrock)."""
    if not model or model.startswith(FREE_PROVIDERS):
        return set()  # run in the worker's own process: no key, no server
    from unittest import mock

    from search.gateway import load_litellm

    litellm = load_litellm()
    try:
        provider = litellm.get_llm_provider(model=model)[1]
    except Exception:  # noqa: BLE001 - an unknown model: the bench will say so itself
        provider = model.partition("/")[0] if "/" in model else ""
    prefixes = {provider.upper().replace("-", "_") + "_"} if provider else set()
    # litellm names only the keys that are missing: ask with none set (before Ray starts threads)
    with mock.patch.dict(os.environ, clear=True):
        try:
            missing = litellm.validate_environment(model=model).get("missing_keys") or []
        except Exception:  # noqa: BLE001
            missing = []
    return prefixes | {key.split("_")[0] + "_" for key in missing if "_" in key}


def model_env_vars(models: list[str], extra: list[str] = (), environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables of this environment that Ray workers need to call `models`: every set
    variable of each model's provider (key, api base, version, organisation), plus the names
    in `extra`. Nothing else of the environment is sent."""
    environ = os.environ if environ is None else environ
    prefixes = set().union(*(provider_prefixes(m) for m in models if m))
    names = {k for k in environ if any(k.startswith(p) for p in prefixes)} | {k for k in extra if k in environ}
    return {k: environ[k] for k in sorted(names)}


# -- the cluster ---------------------------------------------------------------------------
def connect(address: str = "local", *, num_cpus: int | None = None, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """Join the cluster at `address` or start one here (`local`). Idempotent. Returns
    `cluster_info()`. `env_vars` are set on every worker of this job (Ray's job runtime_env:
    recorded in the job's metadata, visible to whoever can list the cluster's jobs)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    ray = _ray()
    if not ray.is_initialized():
        common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                      runtime_env={"env_vars": {**(env_vars or {}), **WORKER_ENV}})
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
    owned by a holder (the Ray task attempt's problem) on a node; it expires after `lease_s`,
    or as soon as Ray reports its node dead (a lost node's CPUs are gone too, so the retried
    problem may never start while the slots it held still count: a deadlock until expiry)."""

    NODE_CHECK_S = 5.0

    def __init__(self, concurrency: int, lease_s: float = 900.0):
        self.capacity = max(1, int(concurrency))
        self.lease_s = lease_s
        self.leases: dict[str, tuple[str, float, str]] = {}  # token -> (holder, deadline, node id)
        self._nodes_checked = 0.0
        self.peak = 0
        self.granted = 0
        self.withdrawn: set[str] = set()
        self.current: dict[str, str] = {}
        self._cond: asyncio.Condition | None = None

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, (_, deadline, _) in self.leases.items() if deadline < now]:
            del self.leases[token]
        if self.leases and now - self._nodes_checked >= self.NODE_CHECK_S:
            self._nodes_checked = now
            alive = live_node_ids()
            if alive is not None:
                for token in [t for t, (_, _, node) in self.leases.items() if node and node not in alive]:
                    del self.leases[token]

    def _live(self, holder: str) -> bool:
        base, _, _ = holder.partition("#")
        return self.current.get(base, holder) == holder

    async def acquire(self, holder: str = "", token: str = "", node: str = "") -> str | None:
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
            self.leases[token] = (holder, time.monotonic() + self.lease_s, node)
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
        stale = [t for t, (h, _, _) in self.leases.items() if h.partition("#")[0] == base and h != holder]
        for token in stale:
            del self.leases[token]
        await self._notify()
        return len(stale)

    async def end_problem(self, holder: str) -> None:
        """The problem is finished: free whatever it still holds, refuse its late requests."""
        base = holder.partition("#")[0]
        self.current[base] = f"{base}#done"
        for token in [t for t, (h, _, _) in self.leases.items() if h.partition("#")[0] == base]:
            del self.leases[token]
        await self._notify()

    async def stats(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "held": len(self.leases), "peak": self.peak, "granted": self.granted,
                "holders": sorted({h for h, _, _ in self.leases.values()})}


def head_node_id() -> str | None:
    ray = _ray()
    heads = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and "node:__internal_head__" in n.get("Resources", {})]
    return heads[0] if heads else None


def live_node_ids() -> set[str] | None:
    """The ids of the cluster's live nodes; None when Ray cannot say (not connected)."""
    try:
        return {n["NodeID"] for n in _ray().nodes() if n.get("Alive")}
    except Exception:  # noqa: BLE001 - no verdict: keep the leases
        return None


def start_limiter(concurrency: int, lease_s: float = 900.0):
    """The limiter actor for this run (a handle that can be passed to tasks). It lives on the
    head node: placed on a worker node, losing that node would fail every problem's next model
    call while the actor restarts elsewhere (seen in tests/test_ray_cluster.py)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_cls = remote_function("limiter", ModelLimiter, num_cpus=0, max_restarts=-1, max_concurrency=1000)
    head = head_node_id()
    if head:
        actor_cls = actor_cls.options(scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False))
    return actor_cls.remote(concurrency, lease_s)


class RayLimiter:
    """The async context manager a Gateway uses as `limiter`: one slot of the cluster-wide
    limiter per model call. Safe to share between the concurrent calls of a gateway."""

    def __init__(self, actor, holder: str = ""):
        self.actor = actor
        self.holder = holder or uuid.uuid4().hex
        self.node = _ray().get_runtime_context().get_node_id() or ""  # a lost node's slots are freed
        self._tokens: dict[Any, list[str]] = {}

    async def __aenter__(self) -> RayLimiter:
        token = uuid.uuid4().hex
        try:
            granted = await self.actor.acquire.remote(self.holder, token, self.node)
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
    from search.gateway import load_litellm

    load_litellm()
    return os.getpid()


def warm_up(count: int | None = None) -> list:
    """Start warming `count` worker processes (default: one per cluster CPU); returns the refs."""
    if count is None:
        count = max(1, cluster_info()["workers"])
    fn = remote_function("warm", _warm_worker, num_cpus=1)
    return [fn.remote() for _ in range(count)]


# -- checking a cluster (`orps doctor --ray`) ------------------------------------------------
CHECK_PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]


def _check_node(model: str, api_base: str, timeout_s: float) -> dict[str, Any]:
    """Body of the Ray task run on each node: is orps there, does the sandbox work, does the model answer?"""
    import importlib.metadata
    import importlib.util
    import platform
    import socket

    from runners.evaluator import SandboxEvaluator
    from search.gateway import Gateway, GatewayConfig, ModelError

    out: dict[str, Any] = {"hostname": socket.gethostname(), "python": platform.python_version()}
    try:
        out["orps"] = importlib.metadata.version("orps")
    except importlib.metadata.PackageNotFoundError:
        out["orps"] = None  # importable (this task runs) but shipped, not installed
    out["packages"] = {name: importlib.util.find_spec(name) is not None for name in ("search", "runners", "orps_tui")}
    task = Task(id="doctor", problem="Return 1.", entry_point="one", tests=["assert one() == 1"])
    try:
        ev = run_on_worker(SandboxEvaluator(workers=1, timeout_s=30).evaluate(task, "def one():\n    return 1\n"))
        out["sandbox"] = {"ok": ev.verdict == "passed", "isolation": ev.isolation, "verdict": ev.verdict,
                          "message": (ev.message or "").strip()[:200]}
    except Exception as err:  # noqa: BLE001 - reported, not raised: the doctor lists every finding
        out["sandbox"] = {"ok": False, "error": f"{type(err).__name__}: {err}"[:300]}
    if model:
        from search.gateway import load_litellm

        load_litellm()  # its import takes seconds: not the model's latency
        gateway = Gateway(GatewayConfig(api_base=api_base, retries=1, backoff_s=0.5, timeout_s=timeout_s))
        started = time.perf_counter()
        try:
            reply = run_on_worker(gateway.complete(model, CHECK_PROMPT, max_tokens=8))
            out["model"] = {"ok": True, "model": model, "latency_s": round(time.perf_counter() - started, 2),
                            "reply": reply.text.strip()[:40]}
        except ModelError as err:
            out["model"] = {"ok": False, "model": model, "error": err.message, "hint": err.hint, "kind": err.kind}
    return out


def check_cluster(model: str = "", api_base: str = "", timeout_s: float = 180.0) -> dict[str, Any]:
    """After `connect`: the live nodes with their CPUs, and on each node (a task pinned there)
    orps's version, a sandboxed test run and, when `model` is given, one model call."""
    import importlib.metadata

    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        driver_version = importlib.metadata.version("orps")
    except importlib.metadata.PackageNotFoundError:
        driver_version = None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    check = remote_function("check_node", _check_node, num_cpus=0, max_retries=0)
    refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(model, api_base, min(timeout_s, 60.0)) for n in nodes]
    found = []
    for node, ref in zip(nodes, refs):
        entry = {"node_id": node["NodeID"], "address": node.get("NodeManagerAddress", ""),
                 "head": bool(node.get("Resources", {}).get("node:__internal_head__")),
                 "cpus": int(node.get("Resources", {}).get("CPU", 0))}
        try:
            entry.update(ray.get(ref, timeout=timeout_s))
            entry["orps_importable"] = True
            entry["same_version"] = entry["orps"] in (None, driver_version)
        except Exception as err:  # noqa: BLE001 - a worker that cannot import orps fails to load the task
            text = str(err).strip().splitlines()
            entry.update(orps_importable=False, same_version=False,
                         error=f"{type(err).__name__}: {text[-1] if text else ''}"[:300])
        found.append(entry)
    return {"nodes": found, "node_count": len(found), "cpus": sum(n["cpus"] for n in found),
            "orps_version": driver_version, "model": model}
