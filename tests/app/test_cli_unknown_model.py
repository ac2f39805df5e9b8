"""A scripted model that does not exist is refused before any work: no tests of the code
as it is, no run directory, the model-error exit code and a message naming the model."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orps_tui.errors import EXIT_MODEL_ERROR, UserError
from orps_tui.solving import SolveRequest, check_scripted_model, prepare_job
from search.providers.scripted import register_script
from tests import tui_support as support
from tests.support import cli_env


def test_an_unregistered_script_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(UserError) as err:
        check_scripted_model("scripted/nonexistent")
    assert err.value.code == EXIT_MODEL_ERROR and "'scripted/nonexistent'" in err.value.message
    with pytest.raises(UserError, match="no file"):
        check_scripted_model(f"scripted/{tmp_path / 'missing.py'}")
    register_script("exists-here", support.respond)
    check_scripted_model("scripted/exists-here")
    script = tmp_path / "model.py"
    script.write_text("def respond(messages, params):\n    return ''\n")
    check_scripted_model(f"scripted/{script}")
    check_scripted_model("openai/gpt-4o-mini")  # other providers are the gateway's to check


def test_prepare_job_refuses_it_before_creating_a_run(tmp_path):
    project = support.make_project(tmp_path)
    with pytest.raises(UserError) as err:
        prepare_job(project, SolveRequest(target=support.TARGET, settings={"model": "scripted/nonexistent"}))
    assert err.value.code == EXIT_MODEL_ERROR
    assert not (project / ".orps" / "runs").exists()


def test_the_command_line_says_so_with_the_model_error_code(tmp_path):
    project = support.make_project(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "solve",
            "--target",
            support.TARGET,
            "--model",
            "scripted/nonexistent",
            "--headless",
            "--no-cache",
        ],
        cwd=project,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_MODEL_ERROR
    assert "orps: unknown model 'scripted/nonexistent'" in done.stderr and "Traceback" not in done.stderr
    assert "tests selected" not in done.stderr  # refused before the tests of the code as it is
