"""Output into a closed pipe (`orps runs | head -1`, `orps solve ... 2>&1 | head`): the
command ends quietly with 141 (128 + SIGPIPE, what a shell reports for `yes | head`),
never `internal error` and exit 70, and a search whose progress nobody reads stops."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orps_tui.cli import EXIT_BROKEN_PIPE
from tests import tui_support as support
from tests.support import cli_env


def run_into_closed_pipe(args: list[str], cwd, *, stderr_too: bool = False, timeout: float = 120):
    """Run `orps args` with stdout (and stderr) on a pipe whose reading end is already
    closed, as after `| head` has read its lines; (exit code, what stderr printed)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: every write gets EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "orps_tui.cli", *args],
            cwd=cwd,
            env=cli_env(),
            stdout=write,
            stderr=write if stderr_too else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    finally:
        os.close(write)
    return done.returncode, (done.stderr or b"").decode()


@pytest.fixture
def project(tmp_path):
    project = support.scripted_project(tmp_path, named_in_config=False)
    return project, tmp_path / "model_script.py"


def test_runs_into_a_closed_pipe_ends_quietly(project):
    root, _ = project
    code, err = run_into_closed_pipe(["runs"], root)
    assert code == EXIT_BROKEN_PIPE == 141
    assert "internal error" not in err and "Traceback" not in err and "BrokenPipe" not in err


def test_an_error_message_into_a_closed_pipe_keeps_its_exit_code(project):
    root, _ = project
    code, _ = run_into_closed_pipe(["check", "--target", "calc.py::nope", "--json"], root, stderr_too=True)
    assert code == 2  # the error's own code: the pipe only lost its message


@pytest.mark.slow
def test_solve_output_into_a_closed_pipe(project):
    root, script = project
    args = [
        "solve",
        "--target",
        "calc.py::add",
        "--model",
        f"scripted/{script}",
        "--samples",
        "2",
        "--beam",
        "1",
        "--rounds",
        "1",
        "--no-cache",
        "--headless",
    ]
    code, err = run_into_closed_pipe(args, root)  # the summary on stdout: `| head -3`
    assert code == EXIT_BROKEN_PIPE, err
    assert "internal error" not in err and "Traceback" not in err
    code, err = run_into_closed_pipe(args, root, stderr_too=True)  # `2>&1 | head`: progress too
    assert code == EXIT_BROKEN_PIPE
    from search.store import list_runs

    assert [r.meta().get("status") for r in list_runs(root)] == ["finished"]  # the first run only


def test_progress_into_a_closed_pipe_stops_the_search():
    from orps_tui.commands.solve import ProgressPrinter
    from search.events import Event

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    stopped = []
    printer = ProgressPrinter(Closed(), on_closed=lambda: stopped.append(True))
    event = Event("round_done", {"round": 0, "nodes": 2})
    printer(event)
    printer(event)  # once closed it prints nothing more and stops the search only once
    assert printer.closed and stopped == [True]
