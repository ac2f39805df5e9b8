"""`orps trace -- COMMAND`: the calls a real command makes to a function, kept as inputs.

The command runs in the sandbox, in a copy of the project (the project itself is never
written by the command), with our `sitecustomize` first on PYTHONPATH
(`_orps_tracehook.py`): when the target's module is imported, every outermost call's
arguments are written down. The distinct inputs are saved in the project's
`.orps/traces/`, one file per target, merged with earlier traces (at most `MAX_CALLS`).

`runners.speed.equivalence.record` adds them to the calls the tests make: the original is run on
them (a 2 s limit each) and the candidates must answer them the same way, as they must
the tests' calls.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from runners.speed._orps_values import rebuildable
from runners.speed.probes import module_of
from runners.target import Target

MAX_CALLS = 500
TRACE_DIR = Path(".orps") / "traces"
ORIGINAL_CALL_S = 2.0
"""The original's time limit on a traced input when it is replayed."""
CANDIDATE_CALL_S = 8.0


def trace_file(project: Path, target: str) -> Path:
    return Path(project) / TRACE_DIR / (hashlib.sha256(target.encode()).hexdigest()[:16] + ".json")


def load(project: Path, target: str) -> list[dict]:
    """The saved traced inputs of `target` ([] when there are none or the file is unreadable)."""
    path = trace_file(project, target)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("target") != target:
        return []
    return [
        c
        for c in data.get("calls", [])
        if isinstance(c, dict) and isinstance(c.get("args"), list) and isinstance(c.get("kwargs"), dict)
    ]


def save(project: Path, target: str, calls: list[dict], command: list[str]) -> tuple[Path, int]:
    """Merge `calls` into the target's trace file; (its path, how many inputs it holds now)."""
    kept = load(project, target)
    seen = {json.dumps(c, sort_keys=True) for c in kept}
    for call in calls:
        key = json.dumps({"args": call["args"], "kwargs": call["kwargs"]}, sort_keys=True)
        if key not in seen and len(kept) < MAX_CALLS:
            seen.add(key)
            kept.append({"args": call["args"], "kwargs": call["kwargs"]})
    path = trace_file(project, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps({"target": target, "command": command, "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), "calls": kept})
    )
    tmp.replace(path)
    return path, len(kept)


def command_argv(command: list[str], python: str) -> list[str]:
    """`python ...` (or python3, python3.X) runs the project's interpreter; other commands
    are found on the sandbox's PATH, with the project's interpreter's directory first."""
    if command and (command[0] in ("python", "python3") or command[0].startswith("python3.")):
        return [python, *command[1:]]
    found = shutil.which(command[0], path=os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")]))
    return [found or command[0], *command[1:]]


async def trace_command(evaluator, task, command: list[str], timeout_s: float) -> dict:
    """Run `command` in the sandbox with the target traced: what it recorded and how it ran."""
    from runners.speed.equivalence import run_harness

    target = Target.parse(task.target)
    path, qualname = target.path, target.qualname
    python = evaluator.environment(task).chosen.path
    argv = command_argv(command, python)
    env = {
        "ORPS_TRACE_TARGET": f"{module_of(path)}:{qualname}",
        "PYTHONPATH": "{harness}/trace" + os.pathsep + "{paths}",
    }
    records, run, _ = await run_harness(
        evaluator, task, task.original_code, "", [], "ORPS_TRACE_FD", command=argv, env=env, timeout_s=timeout_s
    )
    calls = [r for r in records if r.get("type") == "call"]
    errors = [r.get("message", "") for r in records if r.get("type") == "error"]
    replayable = [
        c for c in calls if all(rebuildable(a) for a in c["args"]) and all(rebuildable(v) for v in c["kwargs"].values())
    ]
    return {
        "calls": calls,
        "replayable": replayable,
        "installed": any(r.get("type") == "installed" for r in records),
        "error": errors[0] if errors else "",
        "returncode": run.returncode,
        "timed_out": run.timed_out,
        "output": (run.stdout + run.stderr)[-2000:],
        "argv": argv,
    }
