"""Is a candidate really faster? The target timed per call, original and candidate interleaved.

The tests' runtime is a poor clock for a speed-up: pytest's own work, fixtures and the
first import weigh as much as the target. Here the target itself is timed on the calls the
tests made (the recording of `runners.speed.equivalence`), in one sandboxed run
(`_orps_timing.py`): the original and the candidate each in a process of their own,
batches of N loops over every recorded call, interleaved, timed by the parent's clock.

From the repetitions (`analyse`):
- speedup: the original's minimum batch time over the candidate's (the minimum, as timeit
  advises: the noise of a machine only ever adds time);
- interval: the 10th to 90th percentile of the paired ratios (each repetition's original
  batch over the candidate's batch beside it), widened to hold the speed-up when it lies
  outside (minima and pairs need not agree);
- noise: the spread of the paired ratios, half the 10th-to-90th percentile range over their
  median. A pair's two batches run back to back, so a slow moment of the machine slows both
  and cancels in the ratio; what is left is the noise that can fake a speed-up.
A candidate is faster only when the gain (speedup - 1) reaches the threshold (default 10%,
`--min-speedup`), exceeds the noise, and the interval's low end is above 1.
"""

from __future__ import annotations

import statistics
from pathlib import PurePosixPath

from runners.speed.equivalence import checker, harness_dir, run_harness, same_value
from runners.speed.probes import module_of
from runners.target import Target

REPEATS = 15
BUDGET_S = 4.0
"""Seconds of timing after calibration before the repeats stop early (never under five)."""
MIN_SPEEDUP = 0.10


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def analyse(
    original: list[float], candidate: list[float], *, loops: int = 1, calls: int = 1, min_speedup: float = MIN_SPEEDUP
) -> dict:
    """The speed-up, its interval, the noise and the verdict from paired batch times."""
    pairs = [(o, c) for o, c in zip(original, candidate) if o > 0 and c > 0]
    if len(pairs) < 3:
        return {"measured": False, "faster": False, "reason": "too few timed repetitions"}
    o_min, c_min = min(p[0] for p in pairs), min(p[1] for p in pairs)
    ratios = [o / c for o, c in pairs]
    speedup = o_min / c_min
    # the 10th to 90th percentile of the paired ratios, widened to hold the estimate itself
    low, high = min(percentile(ratios, 0.1), speedup), max(percentile(ratios, 0.9), speedup)
    noise = (percentile(ratios, 0.9) - percentile(ratios, 0.1)) / 2 / statistics.median(ratios)
    gain = speedup - 1
    if gain < min_speedup:
        reason = f"a gain of {gain:.1%} is under the threshold of {min_speedup:.0%}"
    elif gain <= noise:
        reason = f"a gain of {gain:.1%} is within the noise ({noise:.1%})"
    elif low <= 1:
        reason = f"the interval {low:.2f}x-{high:.2f}x reaches 1x: not clearly faster"
    else:
        reason = ""
    per = loops * max(calls, 1)
    return {
        "measured": True,
        "faster": not reason,
        "reason": reason or "faster beyond the threshold and the noise",
        "speedup": round(speedup, 3),
        "low": round(low, 3),
        "high": round(high, 3),
        "noise": round(noise, 4),
        "min_speedup": min_speedup,
        "repeats": len(pairs),
        "loops": loops,
        "calls": calls,
        "original_per_call_s": o_min / per,
        "candidate_per_call_s": c_min / per,
    }


def mutates(call: dict) -> bool:
    """Whether the original changed one of this call's arguments in place."""
    return any(not same_value(a, b) for a, b in zip(call["args"], call.get("after", call["args"]))) or any(
        not same_value(v, call.get("kwargs_after", {}).get(k)) for k, v in call["kwargs"].items()
    )


def original_module_path(target_path: str, marker: str) -> str:
    """Where the original's file goes in the copy: beside the target, so that its relative
    imports resolve in the same package."""
    path = PurePosixPath(target_path)
    return str(path.with_name(f"_orps_original_{marker}.py"))


async def compare_speed(
    evaluator, task, code: str, *, min_speedup: float = MIN_SPEEDUP, repeats: int = REPEATS, budget_s: float = BUDGET_S
) -> dict:
    """Time `code` against the original on the recorded calls (see the module docstring)."""
    rec = await checker(evaluator).recording(task)
    calls = [c for c in rec.replayable if c.get("source") != "generated"]  # the tests' workload only
    if rec.error or not calls:
        why = rec.error or "no recorded call to time"
        return {"measured": False, "faster": False, "reason": f"not timed: {why}"}
    import hashlib
    import json

    target = Target.parse(task.target)
    path, qualname = target.path, target.qualname
    marker = hashlib.sha256(rec.original_text.encode()).hexdigest()[:10]
    original_rel = original_module_path(path, marker)
    inputs = json.dumps([{"args": c["args"], "kwargs": c["kwargs"]} for c in calls])
    hdir = harness_dir(evaluator)
    inputs_file = hdir / f"timing-{hashlib.sha256(inputs.encode()).hexdigest()[:16]}.json"
    if not inputs_file.exists():
        tmp = inputs_file.with_name(inputs_file.name + ".tmp")
        tmp.write_text(inputs)
        tmp.replace(inputs_file)
    timeout = max(evaluator.limits.timeout_s, budget_s * 3 + 20)
    copies = "fresh" if any(mutates(c) for c in calls) else "shared"
    try:
        records, run, _ = await run_harness(
            evaluator,
            task,
            code,
            "_orps_timing.py",
            [module_of(path), module_of(original_rel), qualname, str(inputs_file), str(repeats), str(budget_s), copies],
            "ORPS_TIMING_FD",
            files={original_rel: rec.original_text},
            timeout_s=timeout,
        )
    except (ValueError, RuntimeError, OSError) as err:
        return {"measured": False, "faster": False, "reason": f"not timed: {err}"}
    timing = next((r for r in records if r.get("type") == "timing"), None)
    if timing is None:
        errors = [r.get("message", "") for r in records if r.get("type") == "error"]
        why = (
            errors[0]
            if errors
            else (
                "the time limit"
                if run.timed_out
                else f"the run ended (exit {run.returncode}): {run.stderr.strip()[-200:]}"
            )
        )
        return {"measured": False, "faster": False, "reason": f"not timed: {why}"}
    try:
        original = [float(x) for x in timing["original"]]
        candidate = [float(x) for x in timing["candidate"]]
        loops = int(timing["loops"])
    except (KeyError, TypeError, ValueError):
        return {"measured": False, "faster": False, "reason": "not timed: the timing run's answer is malformed"}
    return analyse(original, candidate, loops=loops, calls=len(calls), min_speedup=min_speedup)
