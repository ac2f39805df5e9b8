"""Stop means stop with the real embedded model (`local/smollm2`), end to end: headless
`orps solve` on the demo example, Ctrl+C while round 0 generates, exit 130, the run listed
as interrupted, `orps solve --resume RUN-ID` continuing it, and no process of the run (model
worker, sandbox, pytest) left alive after the exit.

The one test of the suite that runs the embedded model for this; it prints the measured
exit time (README, "Ctrl+C and exit codes").
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.embedded_solve import start_embedded_solve
from tests.e2e.test_stop import STOP_WITHIN_S
from tests.support import alive, processes_of, sandboxes_under, wait_until

pytestmark = pytest.mark.slow


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (USER_HZ = 100)


def model_worker_cpu_seconds(parent: int) -> float:
    """CPU time of `parent`'s embedded-model child processes (0 before one starts)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == parent and b"model_worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                total += cpu_seconds(int(pid))
        except (OSError, IndexError, ValueError):
            continue
    return total


def test_ctrl_c_mid_round_with_the_embedded_model_then_resume(tmp_path):
    solve = start_embedded_solve(tmp_path, max_tokens=96)
    proc, project = solve.proc, solve.project
    seen: set[int] = set()

    def generating() -> bool:  # round 0 has begun and the model's child burns CPU (its load takes
        # well under a second): a generation is in flight. Not orps's own CPU time, which the
        # embedded model's calls hardly use.
        seen.update(sandboxes_under(proc.pid))
        return model_worker_cpu_seconds(proc.pid) > 1.0

    solve.err.wait_for("plan:", 300)
    wait_until(generating, 120, "a generation running", interval=0.05)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    took = time.monotonic() - sent
    stderr = solve.err.rest()
    print(f"\nembedded model, Ctrl+C mid-round: exit {code} after {took:.2f} s")
    assert code == 130, stderr
    assert "Traceback" not in stderr
    wait_until(
        lambda: processes_of(project) == [] and not any(alive(pid) for pid in seen),
        STOP_WITHIN_S,
        f"the run's processes ending ({processes_of(project)})",
    )

    [run] = solve.runs()
    assert run["status"] == "interrupted"
    solve.resume_to_the_end(run["id"], timeout=900)
