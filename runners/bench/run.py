"""Running strategies over dataset tasks, as the ORPS paper does: for each problem the search
sees only the public tests (`dev.csv`); the chosen answer is then run once against the hidden
tests (`test.csv`), and so is the reference solution, to give the runtime of the answer relative
to the reference. Every strategy runs through the same engine, evaluator and per-problem call budget.

Results are appended to `<out>/results.jsonl` one problem at a time, so an interrupted
benchmark loses nothing and `--resume` skips what is done. Tables, plots and the JSON report
are in `runners.bench.report`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from search.engine import Search
from search.gateway import ModelError
from search.session import gateway_for
from search.settings import SearchSettings
from search.types import Evaluator, Task


@dataclass
class BenchConfig:
    strategy: str
    budget_calls: int
    settings: SearchSettings

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "budget_calls": self.budget_calls, "settings": self.settings.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchConfig:
        return cls(data["strategy"], data["budget_calls"], SearchSettings.from_dict(data["settings"]))

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def key(self) -> str:
        """One cell of the grid: strategy, budget and (when not 0) seed."""
        return cell_key(self.strategy, self.budget_calls, self.seed)

    @property
    def group(self) -> str:
        """The cell without its seed: what pass@1 is reported for, over every seed."""
        return cell_key(self.strategy, self.budget_calls, 0)


def cell_key(strategy: str, budget_calls: int, seed: int) -> str:
    return f"{strategy}@{budget_calls or 'free'}" + (f"/seed{seed}" if seed else "")


@dataclass
class ProblemResult:
    id: str
    strategy: str
    budget_calls: int
    solved_public: bool
    passed_hidden: bool
    hidden_passed: int
    hidden_total: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    wall_s: float
    runtime_rel: float | None
    nodes: int
    stop_reason: str
    verdict: str = ""
    error: str = ""
    code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    failed_calls: int = 0
    """Model calls that failed after their retries (a problem whose search stopped on one has `error` set)."""
    retries: int = 0
    """Transient model errors (rate limits, timeouts) retried, successfully or not."""
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def failed(cls, task: Task, config: BenchConfig, error: str, **extra: Any) -> ProblemResult:
        """A problem whose search did not run to the end (`error` says why): unsolved, nothing judged."""
        return cls(
            task.id,
            config.strategy,
            config.budget_calls,
            solved_public=False,
            passed_hidden=False,
            hidden_passed=0,
            hidden_total=len(task.hidden_tests),
            calls=0,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            wall_s=0.0,
            runtime_rel=None,
            nodes=0,
            stop_reason="error",
            error=error,
            seed=config.seed,
            **extra,
        )


def candidate_summaries(tree) -> list[dict[str, Any]]:
    """Every evaluated candidate of a problem's search, with its public result, so a
    selection rule can be compared afterwards on the same trees without new model calls."""
    return [
        {
            "id": n.id,
            "round": n.round,
            "pass_rate": round(n.pass_rate, 4),
            "all_passed": n.all_passed,
            "verdict": n.evaluation.verdict,
            "code": n.code,
        }
        for n in tree
        if n.code and n.evaluation is not None
    ]


async def solve_problem(
    task: Task, config: BenchConfig, evaluator: Evaluator, cache_dir: str, limiter=None
) -> ProblemResult:
    """Search with public tests only, then judge the answer (and the reference) on hidden tests.
    `limiter`: a model-call limiter shared beyond this problem (the Ray backend's)."""
    settings = config.settings
    # the config's call budget is the one compared across strategies; the cache is always on
    gateway = gateway_for(replace(settings, budget_calls=config.budget_calls), cache_dir, limiter=limiter)
    public_task = Task.from_dict({**task.to_dict(), "hidden_tests": []})  # the search never sees them
    started = time.perf_counter()
    try:
        result = await Search(public_task, settings, gateway, evaluator).run()
    except ModelError as err:
        if err.fatal:
            raise  # every problem would fail the same way: the benchmark stops (see BenchRun.run)
        return ProblemResult(
            task.id,
            config.strategy,
            config.budget_calls,
            False,
            False,
            0,
            len(task.hidden_tests),
            gateway.usage.calls,
            gateway.usage.prompt_tokens,
            gateway.usage.completion_tokens,
            gateway.usage.cost_usd,
            round(time.perf_counter() - started, 3),
            None,
            0,
            "error",
            verdict="error",
            error=err.message,
            failed_calls=gateway.usage.errors,
            retries=gateway.usage.retries,
            seed=settings.seed,
        )
    if result.status == "cancelled":
        raise asyncio.CancelledError  # the search swallows cancellation; a cancelled problem is not a result
    wall = time.perf_counter() - started
    best = result.best
    hidden_ev = await evaluator.evaluate(task, best.code, hidden=True) if best and best.code else None
    runtime_rel = None
    if hidden_ev and hidden_ev.all_passed and task.reference_code and hidden_ev.runtime_s:
        ref_ev = await evaluator.evaluate(task, task.reference_code, hidden=True)
        if ref_ev.all_passed and ref_ev.runtime_s:
            runtime_rel = round(hidden_ev.runtime_s / ref_ev.runtime_s, 3)
    usage = gateway.usage
    return ProblemResult(
        id=task.id,
        strategy=config.strategy,
        budget_calls=config.budget_calls,
        solved_public=bool(best and best.all_passed),
        passed_hidden=bool(hidden_ev and hidden_ev.all_passed),
        hidden_passed=hidden_ev.passed if hidden_ev else 0,
        hidden_total=hidden_ev.total if hidden_ev else len(task.hidden_tests),
        calls=usage.calls,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        wall_s=round(wall, 3),
        runtime_rel=runtime_rel,
        nodes=len(result.tree),
        stop_reason=result.stop_reason,
        verdict=hidden_ev.verdict if hidden_ev else "no-code",
        code=best.code if best else "",
        extra={
            "candidates": candidate_summaries(result.tree),
            **({"agreement": result.agreement} if result.agreement is not None else {}),
        },
        failed_calls=usage.errors,
        retries=usage.retries,
        seed=settings.seed,
    )


def shard_of(tasks: list[Task], shard: tuple[int, int] | None) -> list[Task]:
    """Shard k of n (1-based): every n-th problem from the k-th, so shards are about equal
    in size and together cover the dataset once."""
    if shard is None:
        return tasks
    k, n = shard
    return [t for i, t in enumerate(tasks) if i % n == k - 1]


class BenchRun:
    """Runs configs x problems with bounded concurrency, appending results as they come.

    Each finished cell (one config on one problem) is one line of a results file. A shard
    (`shard=(k, n)`: a share of the problems, for another process or machine) writes its
    own file, `results.shard-k-of-n.jsonl`, so shards never write to the same file; every
    results file in `out` counts as done, so a run without a shard after the shards have
    finished has nothing left to do and reports the whole grid.

    A fatal `ModelError` (no model answers: bad key, unknown model, no server) stops the run:
    the other problems are cancelled, none is recorded for it, and `run` raises it."""

    def __init__(
        self,
        tasks: list[Task],
        configs: list[BenchConfig],
        evaluator: Evaluator,
        out: Path,
        *,
        concurrency: int = 1,
        resume: bool = False,
        on_result: Callable[[ProblemResult, int, int], None] | None = None,
        solver=solve_problem,
        shard: tuple[int, int] | None = None,
    ):
        self.tasks, self.configs, self.evaluator = shard_of(tasks, shard), configs, evaluator
        self.out = Path(out)
        self.concurrency = max(1, concurrency)
        self.resume = resume
        self.on_result = on_result or (lambda r, done, total: None)
        self.solver = solver
        name = "results.jsonl" if shard is None else f"results.shard-{shard[0]}-of-{shard[1]}.jsonl"
        self.results_path = self.out / name

    def load_done(self) -> dict[tuple[str, str], ProblemResult]:
        """Every finished cell in every results file of `out` (this run's and other shards')."""
        done: dict[tuple[str, str], ProblemResult] = {}
        for path in sorted(self.out.glob("results*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    data = json.loads(line)
                except ValueError:
                    continue  # the line a crash tore
                result = ProblemResult(**{k: v for k, v in data.items() if k in ProblemResult.__dataclass_fields__})
                done[(cell_key(result.strategy, result.budget_calls, result.seed), result.id)] = result
        return done

    def _ours(self, done: dict[tuple[str, str], ProblemResult]) -> list[ProblemResult]:
        """The results in `done` that belong to this run's configs and problems."""
        keys, ids = {c.key for c in self.configs}, {t.id for t in self.tasks}
        return [r for (key, task_id), r in done.items() if key in keys and task_id in ids]

    def restored(self) -> list[ProblemResult]:
        """What --resume will reuse for this run's configs and problems."""
        return self._ours(self.load_done()) if self.resume else []

    async def run(self) -> dict[str, list[ProblemResult]]:
        self.out.mkdir(parents=True, exist_ok=True)
        if not self.resume and self.results_path.exists():
            self.results_path.unlink()
        done = self.load_done() if self.resume else {}
        jobs = [(c, t) for c in self.configs for t in self.tasks if (c.key, t.id) not in done]
        total = len(self.configs) * len(self.tasks)
        finished = len(self._ours(done))  # progress counts this run's configs and problems only
        semaphore = asyncio.Semaphore(self.concurrency)
        cache_dir = str(self.out / "cache")
        lock = asyncio.Lock()

        async def one(config: BenchConfig, task: Task) -> None:
            nonlocal finished
            async with semaphore:
                try:
                    result = await self.solver(task, config, self.evaluator, cache_dir)
                except asyncio.CancelledError:
                    raise
                except ModelError as err:
                    if err.fatal:
                        raise  # not recorded: stops the whole run below
                    result = ProblemResult.failed(task, config, err.message, failed_calls=1)
                except Exception as err:  # noqa: BLE001 - one broken problem must not sink the benchmark
                    result = ProblemResult.failed(task, config, f"{type(err).__name__}: {err}")
            async with lock:
                with self.results_path.open("a") as f:
                    f.write(json.dumps(result.to_dict()) + "\n")
                done[(config.key, task.id)] = result
                finished += 1
                self.on_result(result, finished, total)

        running = [asyncio.ensure_future(one(c, t)) for c, t in jobs]
        try:
            await asyncio.gather(*running)
        except BaseException:
            # A model that cannot answer at all (or Ctrl+C): stop every other problem, record none of
            # them; what finished is in results.jsonl for --resume.
            for job in running:
                job.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        by_config: dict[str, list[ProblemResult]] = {c.key: [] for c in self.configs}
        order = {t.id: i for i, t in enumerate(self.tasks)}
        for (key, task_id), result in done.items():
            if key in by_config and task_id in order:
                by_config[key].append(result)
        for key in by_config:
            by_config[key].sort(key=lambda r: order[r.id])
        return by_config


async def check_references(tasks: list[Task], evaluator: Evaluator, out: Path) -> dict[str, str]:
    """Run each problem's reference solution on its hidden tests, once per benchmark dir
    (kept in `<out>/references.json`), and return {id: why} for those that fail here.

    A reference that fails means the problem cannot be solved in this environment (a
    missing package such as pandas, a Python version difference): pass@1 would count it
    as a loss of the search, so the user must hear about it before trusting the numbers."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "references.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    for task in tasks:
        if task.id in known or not task.reference_code:
            continue
        ev = await evaluator.evaluate(task, task.reference_code, hidden=True)
        failing = next((t.message for t in ev.tests if t.outcome != "passed"), "")
        last_line = (ev.message or failing or ev.verdict).strip().splitlines()[-1]
        known[task.id] = {
            "passed": ev.all_passed,
            "verdict": ev.verdict,
            "why": "" if ev.all_passed else re.sub(r"^E\s+", "", last_line)[:200],
        }  # pytest's "E   " gutter
        tmp = path.with_suffix(f".tmp{os.getpid()}")  # shards share the directory: never a torn file
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return {t.id: known[t.id]["why"] for t in tasks if t.id in known and not known[t.id]["passed"]}
