"""`orps solve` with the real embedded model on a copy of the demo example, started as a user
would (headless, in a subprocess), for the end-to-end tests that crash or stop it and then
resume the run (helpers, no tests here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from orps_tui.commands.demo import EXAMPLE, TARGET
from tests.support import Lines, cli_env


@dataclass
class EmbeddedSolve:
    project: Path
    command: list[str]
    """`orps solve` on the project, without the target and search flags (a resume takes none)."""
    proc: subprocess.Popen
    err: Lines
    out: Lines
    """Read too, so that the stdout pipe never fills."""

    def runs(self) -> list[dict]:
        """`orps runs --json` of the project."""
        listed = subprocess.run(
            [sys.executable, "-m", "orps_tui.cli", "runs", "--project", str(self.project), "--json"],
            capture_output=True,
            text=True,
            env=cli_env(),
        )
        return json.loads(listed.stdout)["runs"]

    def resume_to_the_end(self, run_id: str, timeout: float) -> None:
        """`orps solve --resume RUN-ID` finishes the same run (solved or not: the tiny model
        often fails), and no new run appears."""
        resumed = subprocess.run(
            [*self.command, "--resume", run_id, "--quiet"],
            capture_output=True,
            text=True,
            env=cli_env(),
            cwd=self.project,
            timeout=timeout,
        )
        assert resumed.returncode in (0, 1), resumed.stderr
        assert f"run {run_id}: " in resumed.stdout
        [again] = self.runs()
        assert again["id"] == run_id and again["status"] == "finished"


def start_embedded_solve(tmp_path: Path, *, max_tokens: int, extra: tuple[str, ...] = ()) -> EmbeddedSolve:
    """One small search (2 samples, beam 1, one round, no answer cache) on the demo's
    `count_words` with `local/smollm2`; skipped where llama-cpp-python is not installed."""
    pytest.importorskip("llama_cpp")
    project = tmp_path / "demo"
    shutil.copytree(EXAMPLE, project)
    command = [sys.executable, "-m", "orps_tui.cli", "solve", "--project", str(project), "--headless", "--no-cache"]
    search = ["--model", "local/smollm2", "--samples", "2", "--beam", "1", "--rounds", "1"]
    proc = subprocess.Popen(
        [*command, "--target", TARGET, *search, "--max-tokens", str(max_tokens), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=project,
    )
    assert proc.stdout is not None and proc.stderr is not None
    return EmbeddedSolve(project, command, proc, Lines(proc.stderr), Lines(proc.stdout))
