"""Scale out on a Ray cluster: candidate evaluations and whole problems run on workers.

Nothing here imports Ray at module level: `import runners.ray` is free, and Ray is imported
only when `connect` (or something that needs the cluster) is called. Install it with
`pip install 'orps[ray]'`; every worker needs orps installed too (same version).

One module per job:
- `cluster`: joining or starting the cluster, what the workers' model calls need, remote
  functions, warm-up;
- `snapshot`: the project packed once, sent as a Ray object, unpacked once per worker;
- `evaluator`: `RayEvaluator`, the `search.types.Evaluator` that runs each evaluation in a
  Ray task (a `SandboxEvaluator` on the worker);
- `limiter`: the cluster-wide model-call limiter (leases that a dead worker cannot leak);
- `doctor`: `check_cluster`, what `orps doctor --ray` reports.
"""

from runners.ray.cluster import (
    QUIET_ENV,
    TASK_MAX_RETRIES,
    WORKER_ENV,
    RayUnavailable,
    await_ref,
    cluster_info,
    connect,
    head_node_id,
    live_node_ids,
    model_env_vars,
    provider_prefixes,
    remote_function,
    require_ray,
    shutdown,
    warm_up,
)
from runners.ray.doctor import check_cluster
from runners.ray.evaluator import RayEvaluator, run_on_worker, worker_evaluator
from runners.ray.limiter import ModelLimiter, RayLimiter, start_limiter
from runners.ray.snapshot import pack_project, snapshot_root, unpack_project

__all__ = [
    "QUIET_ENV",
    "TASK_MAX_RETRIES",
    "WORKER_ENV",
    "ModelLimiter",
    "RayEvaluator",
    "RayLimiter",
    "RayUnavailable",
    "await_ref",
    "check_cluster",
    "cluster_info",
    "connect",
    "head_node_id",
    "live_node_ids",
    "model_env_vars",
    "pack_project",
    "provider_prefixes",
    "remote_function",
    "require_ray",
    "run_on_worker",
    "shutdown",
    "snapshot_root",
    "start_limiter",
    "unpack_project",
    "warm_up",
    "worker_evaluator",
]
