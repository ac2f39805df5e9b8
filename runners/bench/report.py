"""What a benchmark shows: totals per strategy, the JSON report, the table, the plot, and the
progress line printed per finished problem."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runners.bench.run import BenchConfig, ProblemResult

Z_95 = 1.959964


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): unlike the normal
    approximation it stays inside 0..1 and is honest at 0 or n successes of a few trials."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def totals(results: list[ProblemResult]) -> dict[str, Any]:
    n = len(results)
    passed = sum(r.passed_hidden for r in results)
    rel = [r.runtime_rel for r in results if r.runtime_rel is not None and r.passed_hidden]
    return {
        "count": n,
        "pass_at_1": round(passed / n, 4) if n else 0.0,
        "pass_at_1_ci95": list(wilson(passed, n)),
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

    def __init__(self, restored: Sequence[ProblemResult] = (), clock: Callable[[], float] = time.monotonic):
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
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {done:>4}/{total} {result.strategy:<10} {result.id:<22} "
            f"{mark} calls={result.calls:<3} {result.wall_s:6.1f}s  {result.strategy} passed "
            f"{self.passed.get(result.strategy, 0)}  eta {_duration(eta)}{note}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def report(
    by_config: dict[str, list[ProblemResult]], configs: list[BenchConfig], meta: dict[str, Any]
) -> dict[str, Any]:
    """The JSON document: the first config's problems and totals at the top level, every
    config under `runs` (for sweeps and strategy comparisons)."""
    runs = []
    for config in configs:
        results = by_config.get(config.key, [])
        runs.append(
            {
                "strategy": config.strategy,
                "budget_calls": config.budget_calls,
                "seed": config.seed,
                "settings": config.settings.to_dict(),
                **totals(results),
                "problems": [r.to_dict() for r in results],
            }
        )
    first = runs[0] if runs else {"problems": []}
    return {
        **meta,
        **{k: v for k, v in first.items() if k != "settings"},
        "runs": runs,
        "cells": cells(by_config, configs),
    }


def cells(by_config: dict[str, list[ProblemResult]], configs: list[BenchConfig]) -> list[dict[str, Any]]:
    """pass@1 per strategy and budget over every seed (each problem once per seed), with
    its 95% Wilson interval: what a ranking of strategies may rest on."""
    groups: dict[str, dict[str, Any]] = {}
    for config in configs:
        group = groups.setdefault(
            config.group, {"strategy": config.strategy, "budget_calls": config.budget_calls, "seeds": [], "results": []}
        )
        group["seeds"].append(config.seed)
        group["results"].extend(by_config.get(config.key, []))
    out = []
    for group in groups.values():
        results = group.pop("results")
        total = totals(results)
        out.append(
            {
                **group,
                "problems": len({r.id for r in results}),
                "count": total["count"],
                "pass_at_1": total["pass_at_1"],
                "pass_at_1_ci95": total["pass_at_1_ci95"],
                "calls_per_problem": round(total["calls"] / total["count"], 2) if total["count"] else 0.0,
            }
        )
    return out


def _percent_interval(cell: dict[str, Any]) -> str:
    lo, hi = cell["pass_at_1_ci95"]
    return f"{cell['pass_at_1']:.0%} [{lo:.0%}, {hi:.0%}]"


def table(doc: dict[str, Any]) -> str:
    seeded = any(r.get("seed") for r in doc["runs"])
    seed_head = f" {'seed':>4}" if seeded else ""
    lines = [
        f"{'strategy':<10} {'budget':>6}{seed_head} {'pass@1':>7} {'public':>7} {'calls':>6} {'tokens':>8} "
        f"{'wall s':>8} {'rel.runtime':>11} {'failed':>6}"
    ]
    for r in doc["runs"]:
        rel = "-" if r["mean_runtime_rel"] is None else f"{r['mean_runtime_rel']:.2f}x"
        seed = f" {r.get('seed', 0):>4}" if seeded else ""
        lines.append(
            f"{r['strategy']:<10} {r['budget_calls'] or '-':>6}{seed} {r['pass_at_1']:>7.1%} {r['public_pass_rate']:>7.1%} "
            f"{r['calls']:>6} {r['prompt_tokens'] + r['completion_tokens']:>8} {r['wall_s']:>8.1f} {rel:>11} "
            f"{r.get('failed_calls', 0):>6}"  # model calls that failed after retries
        )
    if any(len(c["seeds"]) > 1 for c in doc.get("cells", [])):
        lines.append("")
        lines.append(f"{'strategy':<10} {'budget':>6} {'seeds':>5} {'problems':>8} {'pass@1 [95% Wilson]':>22}")
        for c in doc["cells"]:
            lines.append(
                f"{c['strategy']:<10} {c['budget_calls'] or '-':>6} {len(c['seeds']):>5} {c['problems']:>8} "
                f"{_percent_interval(c):>22}"
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
    strategies: dict[str, list[tuple[float, float, float, float]]] = {}
    for c in doc.get("cells") or []:
        lo, hi = c["pass_at_1_ci95"]
        strategies.setdefault(c["strategy"], []).append(
            (c["calls_per_problem"], c["pass_at_1"] * 100, lo * 100, hi * 100)
        )
    for name, points in strategies.items():
        points.sort()
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        errors = [[y - p[2] for y, p in zip(ys, points)], [p[3] - y for y, p in zip(ys, points)]]
        ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=name)
    ax.set_ylim(0, 100)  # a fixed axis: small differences are not drawn as large ones
    ax.set_xlabel("model calls per problem (mean)")
    ax.set_ylabel("pass@1 on hidden tests (%), 95% Wilson interval")
    ax.set_title(f"{doc.get('dataset', '')} - {doc.get('model', '')}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
