"""One search with its run directory: start, persist as it goes, finish or resume.

`run_search` wires a `Search` to a `RunDir`: events are appended to `events.jsonl`, the
tree is written to `tree.json` (throttled, and always at the end), and `meta.json` keeps
the status that `orps runs` shows. A run whose process dies keeps status `running` with
its last tree; `resume=True` continues it, reusing every node it already has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from search.agreement import ProbeRunner
from search.engine import Search, SearchResult
from search.events import EventBus
from search.gateway import Budget, Gateway, GatewayConfig, ModelError
from search.settings import SearchSettings
from search.store import RunDir, state_dir
from search.tree import SearchTree
from search.types import Evaluator, ModelClient, Spend, Task

TREE_WRITE_INTERVAL_S = 0.5


def gateway_for(
    settings: SearchSettings, cache_dir: str = "", limiter: AbstractAsyncContextManager[Any] | None = None
) -> Gateway:
    """The model gateway of one search: the settings' concurrency, api base and budget, answers
    cached in `cache_dir` ('' for none); `limiter` is shared beyond the search (the Ray backend's)."""
    config = GatewayConfig(concurrency=settings.concurrency, api_base=settings.api_base, cache_dir=cache_dir)
    budget = Budget(calls=settings.budget_calls, tokens=settings.budget_tokens, usd=settings.budget_usd)
    return Gateway(config, budget, limiter=limiter)


def make_gateway(settings: SearchSettings, project: Path, previous_usage: dict[str, Any] | None = None) -> Gateway:
    """The gateway of a search on `project`, caching in its state directory when asked."""
    gateway = gateway_for(settings, str(state_dir(project) / "cache") if settings.cache else "")
    if previous_usage:
        gateway.carry_over(previous_usage)  # a resumed run keeps spending from the same budget
    return gateway


def tree_usage(tree: SearchTree) -> dict[str, Any]:
    """What the nodes of a (previous) tree spent, summed."""
    total = Spend()
    for node in tree:
        total.add(node.usage)
    return total.to_dict()


class TreeWriter:
    """Writes tree.json at most every TREE_WRITE_INTERVAL_S (serialising a big tree per
    node would make the search quadratic); `flush()` writes unconditionally."""

    def __init__(self, run: RunDir):
        self.run = run
        self.last = 0.0
        self.tree: SearchTree | None = None

    def __call__(self, tree: SearchTree) -> None:
        self.tree = tree
        now = time.monotonic()
        if now - self.last >= TREE_WRITE_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self.tree is not None:
            self.run.write("tree.json", self.tree.to_dict())
            self.last = time.monotonic()


async def run_search(
    task: Task,
    settings: SearchSettings,
    evaluator: Evaluator,
    run: RunDir,
    *,
    bus: EventBus | None = None,
    resume: bool = False,
    gateway: ModelClient | None = None,
    on_tree: Callable[[SearchTree], None] | None = None,
    probes: ProbeRunner | None = None,
) -> SearchResult:
    """Run (or resume) a search, persisting everything in `run`. Raises ModelError."""
    bus = bus or EventBus()
    bus.subscribe(run.append_event)
    previous = SearchTree.from_dict(run.read("tree.json", {}) or {}) if resume else SearchTree()
    if not resume:
        run.write("task.json", task.to_dict())
        run.write("settings.json", settings.to_dict())
    project = Path(task.project) if task.project else run.path.parent.parent.parent
    gateway = gateway or make_gateway(settings, project, tree_usage(previous) if resume else None)
    writer = TreeWriter(run)

    def on_change(tree: SearchTree) -> None:
        writer(tree)
        if on_tree is not None:
            on_tree(tree)  # a live view (the TUI) reads nodes from the tree itself

    search = Search(task, settings, gateway, evaluator, bus, previous, on_change=on_change, probes=probes)
    run.update_meta(
        status="running",
        task=task.id,
        target=task.target,
        strategy=settings.strategy,
        model=settings.model,
        started=run.meta().get("started", time.time()),
    )
    try:
        result = await search.run()
    except ModelError as err:
        writer.flush()
        run.update_meta(status="error", error=err.message, usage=gateway.usage.to_dict())
        raise
    writer.flush()
    best = result.best
    usage = gateway.usage.to_dict()
    run.write(
        "result.json",
        {
            **result.summary(),
            "usage": usage,
            "best_node": best.to_dict() if best else None,
            "baseline": result.baseline.to_dict() if result.baseline else None,
        },
    )
    run.update_meta(
        status="interrupted" if result.status == "cancelled" else "finished",
        result=result.status,
        stop_reason=result.stop_reason,
        best=best.id if best else None,
        pass_rate=best.pass_rate if best else 0.0,
        calls=usage["calls"],
        tokens=usage["tokens"],
        cost_usd=usage["cost_usd"],
        wall_s=round(result.wall_s, 2),
        finished=time.time(),
    )
    return result
