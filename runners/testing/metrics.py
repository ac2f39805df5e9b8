"""Metrics of candidate code for the outcome score.

Static (from the AST, no execution): cyclomatic complexity, AST node count, lines and
characters. Smaller and simpler programs score a little higher when they pass as many
tests (the paper's outcome score). Dynamic: CPU time and peak RSS come from the sandboxed
pytest process's rusage (its own plus its reaped children's), reported by our plugin;
instruction counts come from `perf stat` only where the kernel exposes the counter to us
(probed once; containers and VMs usually do not), otherwise None.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from functools import cache

DECISIONS = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.IfExp,
    ast.ExceptHandler,
    ast.With,
    ast.AsyncWith,
    ast.Assert,
    ast.comprehension,
    ast.match_case,
)


def cyclomatic(tree: ast.AST) -> int:
    """McCabe's number: one plus each branch point (boolean operators count per operand)."""
    count = 1
    for node in ast.walk(tree):
        if isinstance(node, DECISIONS):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
    return count


def static_metrics(code: str) -> dict[str, float]:
    """`loc` (non-blank, non-comment lines), `chars`, and when the code parses `ast_nodes`
    and `cyclomatic`."""
    lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]
    metrics: dict[str, float] = {"loc": float(len(lines)), "chars": float(len(code))}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return metrics
    metrics["ast_nodes"] = float(sum(1 for _ in ast.walk(tree)))
    metrics["cyclomatic"] = float(cyclomatic(tree))
    return metrics


def dynamic_metrics(finish: dict | None) -> dict[str, float | None]:
    """CPU seconds and peak RSS (MiB) from the plugin's final record (None when it never came)."""
    if not finish:
        return {"cpu_s": None, "peak_rss_mb": None}
    rss = finish.get("maxrss_kb")
    return {"cpu_s": finish.get("cpu_s"), "peak_rss_mb": round(rss / 1024, 1) if rss else None}


PERF_EVENT = "instructions:u"


@cache
def perf_available() -> bool:
    """Whether `perf stat` can count user-space instructions here (probed once)."""
    perf = shutil.which("perf")
    if not perf:
        return False
    try:
        run = subprocess.run(
            [perf, "stat", "-x,", "-e", PERF_EVENT, "--", "true"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0 and parse_perf(run.stderr) is not None


def perf_prefix(log_fd: int) -> list[str]:
    """Put before a command to have perf write its count to `log_fd` (see `parse_perf`)."""
    return [shutil.which("perf") or "perf", "stat", "-x,", "-e", PERF_EVENT, "--log-fd", str(log_fd), "--"]


def parse_perf(text: str) -> int | None:
    """The instruction count from `perf stat -x,` output; None when unsupported or absent."""
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions"):
            try:
                return int(float(fields[0]))
            except ValueError:
                return None  # "<not supported>", "<not counted>"
    return None
