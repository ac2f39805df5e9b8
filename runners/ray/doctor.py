"""Checking a cluster (`orps doctor --ray`): on every live node, is orps there, does the
sandbox work, does the model answer.
"""

from __future__ import annotations

import time
from typing import Any

from runners.ray.cluster import remote_function, require_ray
from runners.ray.evaluator import run_on_worker
from search.types import Task

CHECK_PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]


def _check_node(model: str, api_base: str, timeout_s: float) -> dict[str, Any]:
    """Body of the Ray task run on each node: is orps there, does the sandbox work, does the model answer?"""
    import importlib.metadata
    import importlib.util
    import platform
    import socket

    from runners.testing.evaluator import SandboxEvaluator
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
        out["sandbox"] = {
            "ok": ev.verdict == "passed",
            "isolation": ev.isolation,
            "verdict": ev.verdict,
            "message": (ev.message or "").strip()[:200],
        }
    except Exception as err:  # noqa: BLE001 - reported, not raised: the doctor lists every finding
        out["sandbox"] = {"ok": False, "error": f"{type(err).__name__}: {err}"[:300]}
    if model:
        from search.gateway import load_litellm

        load_litellm()  # its import takes seconds: not the model's latency
        gateway = Gateway(GatewayConfig(api_base=api_base, retries=1, backoff_s=0.5, timeout_s=timeout_s))
        started = time.perf_counter()
        try:
            reply = run_on_worker(gateway.complete(model, CHECK_PROMPT, max_tokens=8))
            out["model"] = {
                "ok": True,
                "model": model,
                "latency_s": round(time.perf_counter() - started, 2),
                "reply": reply.text.strip()[:40],
            }
        except ModelError as err:
            out["model"] = {"ok": False, "model": model, "error": err.message, "hint": err.hint, "kind": err.kind}
    return out


def check_cluster(model: str = "", api_base: str = "", timeout_s: float = 180.0) -> dict[str, Any]:
    """After `connect`: the live nodes with their CPUs, and on each node (a task pinned there)
    orps's version, a sandboxed test run and, when `model` is given, one model call."""
    import importlib.metadata

    ray = require_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        driver_version = importlib.metadata.version("orps")
    except importlib.metadata.PackageNotFoundError:
        driver_version = None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    check = remote_function("check_node", _check_node, num_cpus=0, max_retries=0)
    refs = [
        check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            model, api_base, min(timeout_s, 60.0)
        )
        for n in nodes
    ]
    found = []
    for node, ref in zip(nodes, refs):
        entry = {
            "node_id": node["NodeID"],
            "address": node.get("NodeManagerAddress", ""),
            "head": bool(node.get("Resources", {}).get("node:__internal_head__")),
            "cpus": int(node.get("Resources", {}).get("CPU", 0)),
        }
        try:
            entry.update(ray.get(ref, timeout=timeout_s))
            entry["orps_importable"] = True
            entry["same_version"] = entry["orps"] in (None, driver_version)
        except Exception as err:  # noqa: BLE001 - a worker that cannot import orps fails to load the task
            text = str(err).strip().splitlines()
            entry.update(
                orps_importable=False,
                same_version=False,
                error=f"{type(err).__name__}: {text[-1] if text else ''}"[:300],
            )
        found.append(entry)
    return {
        "nodes": found,
        "node_count": len(found),
        "cpus": sum(n["cpus"] for n in found),
        "orps_version": driver_version,
        "model": model,
    }
