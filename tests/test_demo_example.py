"""The demo's example stays a real bug that its own tests catch, and a fix makes them pass."""

from __future__ import annotations

import shutil
import subprocess
import sys

from orps_tui.commands.demo import EXAMPLE, TARGET


def run_tests(project) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=project, capture_output=True, text=True, timeout=120)


def test_example_tests_catch_the_bug_and_pass_once_fixed(tmp_path):
    project = tmp_path / "ex"
    shutil.copytree(EXAMPLE, project)
    path, name = TARGET.split("::")
    broken = run_tests(project)
    assert broken.returncode == 1 and "1 failed, 3 passed" in broken.stdout
    source = (project / path).read_text()
    assert f"def {name}(" in source
    fixed_source = source.replace("return year % 4 == 0", "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)")
    assert fixed_source != source
    (project / path).write_text(fixed_source)
    fixed = run_tests(project)
    assert fixed.returncode == 0, fixed.stdout
