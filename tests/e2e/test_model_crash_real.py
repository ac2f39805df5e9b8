"""The real embedded model's child process killed with SIGSEGV in the middle of `orps solve`
(as llama.cpp's AMX crash killed it): orps ends with exit code 4 and one line, no traceback,
and `orps solve --resume` finishes the run with a new child."""

from __future__ import annotations

import os
import signal
import time

import pytest

from orps_tui.errors import EXIT_MODEL_CRASHED
from tests.app.test_model_crash import model_children
from tests.e2e.embedded_solve import start_embedded_solve
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_sigsegv_in_the_real_model_mid_solve_then_resume(tmp_path):
    solve = start_embedded_solve(tmp_path, max_tokens=64, extra=("--budget-calls", "2"))
    proc = solve.proc
    solve.err.wait_for("plan:", 300)
    [child] = wait_until(lambda: model_children(proc.pid, "search.providers.model_worker"), 120, "the model's child")
    time.sleep(1.0)  # loading or generating: either way inside llama.cpp
    os.kill(child, signal.SIGSEGV)
    code = proc.wait(timeout=60)
    stderr = solve.err.rest()
    print(f"\nSIGSEGV in the real model's child: exit {code}\n{stderr.splitlines()[-2:]}")
    assert code == EXIT_MODEL_CRASHED, stderr
    assert "orps: the embedded model crashed (SIGSEGV in llama.cpp)" in stderr
    assert "Traceback" not in stderr + solve.out.rest()
    [run] = solve.runs()
    solve.resume_to_the_end(run["id"], timeout=1800)
