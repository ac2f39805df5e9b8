"""The trust checks judge the candidate's own lines, not the user's code around them.

Shaped like semver 3.0.4: `_deprecated.py` holds a `deprecated` decorator that finds its
caller with `inspect.currentframe()` and the functions it decorates; checking one of them
said "suspicious: it inspects the call stack" for every test, the user's own code included.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from orps_tui.cli import main
from runners.code.authorship import candidate_lines

MODULE = """import functools
import inspect
import warnings


def deprecated(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        frame = inspect.currentframe().f_back
        warnings.warn(f"{func.__name__} is deprecated (called from line {frame.f_lineno})", DeprecationWarning)
        return func(*args, **kwargs)

    return wrapper


@deprecated
def bump_major(version):
    major, _, _ = version.split(".")
    return f"{int(major) + 1}.0.0"
"""

TESTS = """import pytest

from semverish._deprecated import bump_major


def test_bump_major():
    with pytest.warns(DeprecationWarning):
        assert bump_major("3.4.5") == "4.0.0"


def test_bump_major_zero():
    with pytest.warns(DeprecationWarning):
        assert bump_major("0.1.2") == "1.0.0"
"""


def test_unchanged_code_is_the_target_definition_with_its_decorators():
    assert candidate_lines(MODULE, MODULE, "bump_major") == [(16, 19)]


def test_a_changed_line_counts_as_its_whole_function():
    after = MODULE.replace("warnings.warn(", "warnings.warn(  # changed\n            ", 1)
    assert candidate_lines(MODULE, after, "bump_major") == [(6, 14), (17, 20)]


def test_an_added_helper_and_import_are_the_candidates():
    after = (
        MODULE.replace("import warnings\n", "import warnings\nimport sys\n", 1) + "\n\ndef helper():\n    return 1\n"
    )
    spans = candidate_lines(MODULE, after, "bump_major")
    assert spans == [(4, 4), (17, 20), (23, 24)]


def test_a_changed_line_between_repeated_lines_is_found_where_it_is():
    # Identical lines on both sides of the change: the common head and tail must not swallow it.
    repeated = "x = 1\n" * 3
    before = repeated + "y = 2\n" + repeated
    after = repeated + "y = 3\n" + repeated
    assert candidate_lines(before, after) == [(4, 4)]
    assert candidate_lines(before, repeated + repeated) == [(3, 4)]  # a deletion marks both sides


def test_a_file_that_does_not_parse_is_the_candidates_whole():
    assert candidate_lines(MODULE, MODULE + "def broken(:\n", "bump_major") is None


def test_a_definition_inside_a_module_level_if_is_found():
    source = "import sys\n\nif sys.version_info >= (3,):\n    def f():\n        return 1\nelse:\n    def f():\n        return 2\n"
    assert candidate_lines(source, source, "f") == [(4, 5), (7, 8)]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "semverish"
    (root / "src" / "semverish").mkdir(parents=True)
    (root / "src" / "semverish" / "__init__.py").write_text("")
    (root / "src" / "semverish" / "_deprecated.py").write_text(MODULE)
    (root / "tests").mkdir()
    (root / "tests" / "test_bump.py").write_text(TESTS)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    return root


def check(project, capsys, *argv) -> dict:
    main(["check", "src/semverish/_deprecated.py::bump_major", "--project", str(project), "--json", *argv])
    return json.loads(capsys.readouterr().out)


def test_the_users_decorator_inspecting_the_stack_is_not_the_candidate(project, capsys):
    doc = check(project, capsys)
    assert (doc["verdict"], doc["passed"], doc["total"]) == ("passed", 2, 2), doc["message"]


def test_a_candidate_inspecting_the_stack_itself_is_still_suspicious(project, tmp_path, capsys):
    hack = tmp_path / "hack.py"
    hack.write_text(
        textwrap.dedent(
            """\
            @deprecated
            def bump_major(version):
                import sys
                sys._getframe(2)
                return f"{int(version.split('.')[0]) + 1}.0.0"
            """
        )
    )
    doc = check(project, capsys, "--candidate", str(hack))
    assert doc["verdict"] == "suspicious" and "inspects the call stack" in doc["message"]


def test_a_helper_the_candidate_adds_is_the_candidates_too(project, tmp_path, capsys):
    hack = tmp_path / "hack.py"
    hack.write_text(
        textwrap.dedent(
            """\
            import sys


            def _peek():
                return sys._getframe(3)


            @deprecated
            def bump_major(version):
                _peek()
                return f"{int(version.split('.')[0]) + 1}.0.0"
            """
        )
    )
    doc = check(project, capsys, "--candidate", str(hack))
    assert doc["verdict"] == "suspicious" and "inspects the call stack" in doc["message"]
