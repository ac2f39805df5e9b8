"""The Ray cluster: joining or starting it, what its workers need, remote functions.

- `connect(address)`: `"local"` starts Ray on this machine (quiet, no dashboard, no usage
  stats); anything else is a cluster address (`ray://host:10001`, `host:6379`, `auto`).
- `model_env_vars`: the driver's variables a model needs on the workers (sent in the job's
  runtime_env by `connect(env_vars=...)`).
- `remote_function`: `ray.remote` made once per process; `await_ref` cancels the Ray task
  when its awaiting coroutine is cancelled; `warm_up` pre-imports what tasks need.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

from search.gateway import FREE_PROVIDERS

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


def require_ray():
    """The `ray` module; RayUnavailable (with the install command) when it is not installed."""
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


def model_env_vars(
    models: list[str], extra: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables of this environment that Ray workers need to call `models`: every set
    variable of each model's provider (key, api base, version, organisation), plus the names
    in `extra`. Nothing else of the environment is sent."""
    env = os.environ if environ is None else environ
    prefixes = set().union(*(provider_prefixes(m) for m in models if m))
    names = {k for k in env if any(k.startswith(p) for p in prefixes)} | {k for k in extra if k in env}
    return {k: env[k] for k in sorted(names)}


# -- the cluster ---------------------------------------------------------------------------
def connect(
    address: str = "local", *, num_cpus: int | None = None, env_vars: dict[str, str] | None = None
) -> dict[str, Any]:
    """Join the cluster at `address` or start one here (`local`). Idempotent. Returns
    `cluster_info()`. `env_vars` are set on every worker of this job (Ray's job runtime_env:
    recorded in the job's metadata, visible to whoever can list the cluster's jobs)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    ray = require_ray()
    if not ray.is_initialized():
        common = dict(
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env={"env_vars": {**(env_vars or {}), **WORKER_ENV}},
        )
        try:
            if address in ("", "local"):
                ray.init(num_cpus=num_cpus, **common)
            else:
                ray.init(address=address, **common)
        except Exception as err:  # noqa: BLE001 - Ray raises many kinds; one clear message
            raise RayUnavailable(f"cannot start or reach Ray at {address!r}: {type(err).__name__}: {err}") from None
    return cluster_info()


def cluster_info() -> dict[str, Any]:
    ray = require_ray()
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
    ray = require_ray()
    try:
        return await ref
    except asyncio.CancelledError:
        try:
            ray.cancel(ref, force=force_cancel, recursive=True)
        except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
            pass
        raise


_remote_cache: dict[str, Any] = {}


def remote_function(name: str, fn, **options):
    """`ray.remote(**options)(fn)`, made once per process (Ray is imported only here)."""
    if name not in _remote_cache:
        _remote_cache[name] = require_ray().remote(**options)(fn)
    return _remote_cache[name]


def head_node_id() -> str | None:
    ray = require_ray()
    heads = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and "node:__internal_head__" in n.get("Resources", {})]
    return heads[0] if heads else None


def live_node_ids() -> set[str] | None:
    """The ids of the cluster's live nodes; None when Ray cannot say (not connected)."""
    try:
        return {n["NodeID"] for n in require_ray().nodes() if n.get("Alive")}
    except Exception:  # noqa: BLE001 - no verdict: keep the leases
        return None


# -- warm-up -------------------------------------------------------------------------------
def _warm_worker() -> int:
    """Import what a task needs (litellm alone takes seconds) so the first real task does not wait."""
    import runners.testing.evaluator  # noqa: F401
    from search.gateway import load_litellm

    load_litellm()
    return os.getpid()


def warm_up(count: int | None = None) -> list:
    """Start warming `count` worker processes (default: one per cluster CPU); returns the refs."""
    if count is None:
        count = max(1, cluster_info()["workers"])
    fn = remote_function("warm", _warm_worker, num_cpus=1)
    return [fn.remote() for _ in range(count)]
