"""What a benchmark shows: totals per strategy, the JSON report, the table, the plot, and the
progress line printed per finished problem."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runners.bench.run import BenchConfig, ProblemResult


def totals(results: list[ProblemResult]) -> dict[str, Any]:
    n = len(results)
    rel = [r.runtime_rel for r in results if r.runtime_rel is not None and r.passed_hidden]
    return {
        "count": n,
        "pass_at_1": round(sum(r.passed_hidden for r in results) / n, 4) if n else 0.0,
        "public_pass_rate": round(sum(r.solved_public for r in results) / n, 4) if n else 0.0,
        "calls": sum(r.calls for r in results),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
        "cost_usd": round(sum(r.cost_usd for r in results), 6),
        "wall_s": round(sum(r.wall_s for r in results), 2),
        "mean_runtime_rel": round(statistics.mean(rel), 3) if rel else None,
        "errors": sum(bool(r.error) for r in results),
        "failed_calls": sum(r.failed_calls for r in results),
        "retries": sum(r.retries for r in results),
    }


class Progress:
    """One line per finished problem, with a bar, the hidden-test passes so far and an ETA
    (from this invocation's pace, so problems restored by --resume do not skew it)."""

    def __init__(self, restored: list[ProblemResult] = (), clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started = clock()
        self.already_done = len(restored)
        self.passed: dict[str, int] = {}
        for result in restored:
            self.passed[result.strategy] = self.passed.get(result.strategy, 0) + result.passed_hidden

    def line(self, result: ProblemResult, done: int, total: int, width: int = 20) -> str:
        if result.passed_hidden:
            self.passed[result.strategy] = self.passed.get(result.strategy, 0) + 1
        ran = max(1, done - self.already_done)
        eta = (self.clock() - self.started) / ran * (total - done)
        filled = round(width * done / max(1, total))
        mark = "PASS" if result.passed_hidden else ("pub " if result.solved_public else "fail")
        note = f"  {result.error}" if result.error else ""
        return (f"[{'#' * filled}{'.' * (width - filled)}] {done:>4}/{total} {result.strategy:<10} {result.id:<22} "
                f"{mark} calls={result.calls:<3} {result.wall_s:6.1f}s  {result.strategy} passed "
                f"{self.passed.get(result.strategy, 0)}  eta {_duration(eta)}{note}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def report(by_config: dict[str, list[ProblemResult]], configs: list[BenchConfig], meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: the first config's problems and totals at the top level, every
    config under `runs` (for sweeps and strategy comparisons)."""
    runs = []
    for config in configs:
        results = by_config.get(config.key, [])
        runs.append({"strategy": config.strategy, "budget_calls": config.budget_calls,
                     "settings": config.settings.to_dict(), **totals(results),
                     "problems": [r.to_dict() for r in results]})
    first = runs[0] if runs else {"problems": []}
    return {**meta, **{k: v for k, v in first.items() if k != "settings"}, "runs": runs}


def table(doc: dict[str, Any]) -> str:
    lines = [f"{'strategy':<10} {'budget':>6} {'pass@1':>7} {'public':>7} {'calls':>6} {'tokens':>8} "
             f"{'wall s':>8} {'rel.runtime':>11} {'failed':>6}"]
    for r in doc["runs"]:
        rel = "-" if r["mean_runtime_rel"] is None else f"{r['mean_runtime_rel']:.2f}x"
        lines.append(
            f"{r['strategy']:<10} {r['budget_calls'] or '-':>6} {r['pass_at_1']:>7.1%} {r['public_pass_rate']:>7.1%} "
            f"{r['calls']:>6} {r['prompt_tokens'] + r['completion_tokens']:>8} {r['wall_s']:>8.1f} {rel:>11} "
            f"{r.get('failed_calls', 0):>6}"  # model calls that failed after retries
        )
    return "\n".join(lines)


def write_report(doc: dict[str, Any], out: Path, plot_path: Path, also: Path | None = None) -> str | None:
    """`<out>/report.json` (and a copy in `also`), then the plot; returns why no plot was drawn."""
    text = json.dumps(doc, indent=1)
    (out / "report.json").write_text(text)
    if also is not None:
        also.write_text(text)
    return plot(doc, plot_path)


def plot(doc: dict[str, Any], path: Path) -> str | None:
    """pass@1 against model calls per strategy. Returns an error message when it cannot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed, so no plot was drawn (pip install matplotlib)"
    fig, ax = plt.subplots(figsize=(6, 4))
    strategies: dict[str, list[tuple[float, float]]] = {}
    for r in doc["runs"]:
        calls_per_problem = r["calls"] / r["count"] if r["count"] else 0
        strategies.setdefault(r["strategy"], []).append((calls_per_problem, r["pass_at_1"] * 100))
    for name, points in strategies.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xlabel("model calls per problem (mean)")
    ax.set_ylabel("pass@1 on hidden tests (%)")
    ax.set_title(f"{doc.get('dataset', '')} - {doc.get('model', '')}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
