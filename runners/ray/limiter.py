"""The cluster-wide model-call limiter.

`ModelLimiter`: one async actor (on the head node) holding the cluster-wide model-call
concurrency; `RayLimiter` wraps it as the async context manager `search.gateway.Gateway`
accepts. A slot is a lease: a worker that dies holding one does not leak it (the retried
task frees what its previous attempt held; a lost node's leases are freed; leases expire).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from runners.ray.cluster import head_node_id, live_node_ids, remote_function, require_ray


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
        return {
            "capacity": self.capacity,
            "held": len(self.leases),
            "peak": self.peak,
            "granted": self.granted,
            "holders": sorted({h for h, _, _ in self.leases.values()}),
        }


def start_limiter(concurrency: int, lease_s: float = 900.0):
    """The limiter actor for this run (a handle that can be passed to tasks). It lives on the
    head node: placed on a worker node, losing that node would fail every problem's next model
    call while the actor restarts elsewhere (seen in tests/e2e/test_ray_cluster.py)."""
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
        self.node = require_ray().get_runtime_context().get_node_id() or ""  # a lost node's slots are freed
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
