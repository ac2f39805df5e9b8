"""Functions, methods and tests inside module-level if/try/else blocks: located, selected
and spliced in place, never defined a second time. Fixtures shaped like toolz's
`functoolz` (`if PYPY:` redefinition), more-itertools' `recipes` (a `hexversion` check),
boltons' `fileutils` (a definition in try/except/else) and `tests/test_gcutils.py`
(tests inside `if '__pypy__' not in sys.builtin_module_names:`)."""

from __future__ import annotations

import ast

import pytest

from runners.code.locate import list_functions, locate, new_target
from runners.code.splice import splice_candidate, splice_or_add
from runners.testing.testselect import select_tests

FUNCTOOLZ = """from toolz.compatibility import PYPY


def _check_sigspec(sigspec, func):
    if sigspec is None:
        return None, False
    return sigspec, None


if PYPY:  # pragma: no cover
    _check_sigspec_orig = _check_sigspec

    def _check_sigspec(sigspec, func):
        # PyPy may lie, so use our registry for builtins instead
        return _check_sigspec_orig(sigspec, func)


def num_required_args(func, sigspec=None):
    sigspec, rv = _check_sigspec(sigspec, func)
    return rv
"""

RECIPES = '''from sys import hexversion


def _batched(iterable, n):
    """Batch data into tuples of length n."""
    return iter(())


if hexversion >= 0x30D00A2:  # pragma: no cover
    def batched(iterable, n):
        return _batched(iterable, n)
else:  # pragma: no cover
    batched = _batched

if sys.version_info >= (3, 0):
    class Box:
        def size(self):
            return 0
'''

FILEUTILS = '''import os

try:
    import fcntl as fcntl
except ImportError:
    def set_cloexec(fd):
        "Dummy set_cloexec for platforms without fcntl support"
        pass
else:
    def set_cloexec(fd):
        """Does a best-effort :func:`fcntl.fcntl` call."""
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD, 0)
        except OSError:
            pass
        return flags


def atomic_save(path):
    return set_cloexec(os.open(path, os.O_RDONLY))
'''

GCUTILS_TESTS = """import sys
import time

import pytest


if '__pypy__' not in sys.builtin_module_names:
    # pypy's gc really is different

    from pkg.fileutils import set_cloexec

    def test_set_cloexec():
        assert set_cloexec(0) is not None

    class TestCloexec:
        if sys.version_info >= (3, 8):
            def test_in_a_class(self):
                set_cloexec(1)

else:
    def test_set_cloexec():
        pass


@pytest.fixture
def test_url():
    return set_cloexec
"""


@pytest.fixture
def project(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/functoolz.py": FUNCTOOLZ,
        "pkg/recipes.py": RECIPES,
        "pkg/fileutils.py": FILEUTILS,
        "tests/test_gcutils.py": GCUTILS_TESTS,
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_redefinition_under_a_condition_we_cannot_evaluate_loses_to_the_unconditional_one(project):
    found = locate(project, "pkg/functoolz.py::_check_sigspec")
    assert found.start_line == 4 and "PyPy" not in found.source


def test_a_version_check_picks_the_branch_this_python_runs_and_an_only_definition_is_found(project):
    found = locate(project, "pkg/recipes.py::batched")  # defined only in a branch that may not run
    assert found.indent == "    " and found.source.startswith("def batched(iterable, n):")
    size = locate(project, "pkg/recipes.py::Box.size")
    assert size.indent == " " * 8
    setter = locate(project, "pkg/fileutils.py::set_cloexec")  # try's else runs; the except is the fallback
    assert "best-effort" in setter.docstring and setter.indent == "    "
    names = [f.qualname for f in list_functions(project / "pkg/fileutils.py")]
    assert names == ["set_cloexec", "atomic_save"]  # once, though defined twice


def test_splicing_in_place_keeps_the_branch_and_never_adds_a_second_definition(project):
    source = FILEUTILS
    candidate = 'def set_cloexec(fd):\n    """Doc."""\n    return fcntl.fcntl(fd, fcntl.F_GETFD, 0)\n'
    out = splice_candidate(source, "set_cloexec", candidate)
    assert out.count("def set_cloexec") == 2  # the fallback and the replaced one, no third
    assert (
        '    def set_cloexec(fd):\n        """Does a best-effort :func:`fcntl.fcntl` call."""\n'
        "        return fcntl.fcntl(fd, fcntl.F_GETFD, 0)\n\n\ndef atomic_save" in out
    )
    assert out.startswith(source[: source.index("else:")])  # the except branch is untouched
    ast.parse(out)
    # A function that exists in a branch is not "new": neither locate's fallback nor splice_or_add adds it.
    assert new_target(project, "pkg/recipes.py::batched").start_line == 10
    again = splice_or_add(RECIPES, "batched", "def batched(iterable, n):\n    return iter([])\n")
    assert again.count("def batched") == 1 and "    def batched(iterable, n):\n        return iter([])\n" in again


def test_the_candidate_may_echo_the_branch_around_the_function(project):
    echoed = (
        "import os\n\ntry:\n    import fcntl\nexcept ImportError:\n    def set_cloexec(fd):\n        pass\n"
        "else:\n    def set_cloexec(fd):\n        return fcntl.fcntl(fd, 2, 0)\n"
    )
    out = splice_candidate(FILEUTILS, "set_cloexec", echoed)
    assert "        return fcntl.fcntl(fd, 2, 0)\n" in out and out.count("def set_cloexec") == 2
    assert out.count("import fcntl") == 1  # the module imports it in its own try block


def test_round_trip_of_every_function_gives_the_same_file(project):
    for rel in ("pkg/functoolz.py", "pkg/recipes.py", "pkg/fileutils.py"):
        text = (project / rel).read_text()
        for info in list_functions(project / rel):
            found = locate(project, f"{rel}::{info.qualname}")
            assert splice_candidate(text, info.qualname, found.source) == text, (rel, info.qualname)


def test_tests_inside_branches_are_selected_once_and_a_fixture_named_test_is_not_a_test(project):
    selection = select_tests(project, locate(project, "pkg/fileutils.py::set_cloexec"))
    assert selection.node_ids == [
        "tests/test_gcutils.py::test_set_cloexec",
        "tests/test_gcutils.py::TestCloexec::test_in_a_class",
    ]


@pytest.mark.parametrize("config", ["tox.ini", ".pytest.ini"])  # semver keeps its options in .pytest.ini
def test_pytests_own_collection_rules_from_the_projects_config(tmp_path, config):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("def f():\n    return 1\n")
    (tmp_path / config).write_text(
        "[pytest]\npython_files = check_*.py\npython_functions = check_\npython_classes = Check\n"
    )
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "check_f.py").write_text(
        "from pkg import f\n\n\ndef check_one():\n    assert f() == 1\n\n\ndef test_not_a_test_here():\n    f()\n\n\n"
        "class CheckF:\n    def check_two(self):\n        assert f()\n"
    )
    (tmp_path / "checks" / "test_ignored.py").write_text("from pkg import f\n\n\ndef test_x():\n    f()\n")
    selection = select_tests(tmp_path, locate(tmp_path, "pkg/__init__.py::f"))
    assert selection.node_ids == ["checks/check_f.py::check_one", "checks/check_f.py::CheckF::check_two"]


def test_a_condition_is_evaluated_only_when_it_is_a_plain_version_or_platform_check(tmp_path):
    # A spliced file may hold a candidate's code: arithmetic (a hang) and dunders are never evaluated.
    (tmp_path / "m.py").write_text(
        "if 9 ** 9 ** 9 > 1:\n    def f():\n        return 1\n"
        "if sys.version_info.__class__:\n    def g():\n        return 2\n"
    )
    assert locate(tmp_path, "m.py::f").indent == "    " and locate(tmp_path, "m.py::g").start_line == 5
