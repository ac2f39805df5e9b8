"""The private pytest names orps's in-sandbox harness relies on (runners/testing/_pytest_compat.py)
exist in the installed pytest and behave as the harness expects. A failure names what changed."""

import ast
import importlib

import pytest

from runners.testing import _pytest_compat as compat

WHERE = "runners/testing/_pytest_compat.py"


def changed(what: str, err: BaseException | None = None) -> str:
    return f"pytest {pytest.__version__} changed {what}{f' ({err!r})' if err else ''}: update {WHERE}"


def test_every_function_that_decides_an_outcome_is_where_the_plugin_looks():
    missing = []
    for spec in compat.WATCHED:
        module, _, path = spec.partition(":")
        try:  # the plugin imports every module it names: one that is gone stops the run
            obj = importlib.import_module(module)
        except ImportError:
            missing.append(spec)
            continue
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                if spec not in compat.NOT_IN_EVERY_PYTEST:
                    missing.append(spec)
                break
    assert not missing, changed(f"where these live: {', '.join(missing)}")


def test_the_built_in_plugins_are_listed_and_import():
    modules = compat.default_plugin_modules()
    assert modules, changed("_pytest.config.default_plugins (gone or empty)")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            pytest.fail(changed(f"a built-in plugin's module, {module}", err))


def test_skip_and_xfail_raise_the_outcomes_the_plugin_catches():
    try:
        skipped, xfailed = compat.skip_outcomes()
    except ImportError as err:
        pytest.fail(changed("_pytest.outcomes.Skipped / XFailed", err))
    with pytest.raises(skipped):
        pytest.skip("skipped")
    with pytest.raises(xfailed):
        pytest.xfail("xfailed")


def test_the_assertion_rewriter_rewrites_a_parsed_test_file(tmp_path, pytestconfig):
    path = tmp_path / "test_sample.py"
    source = b"def test_sample():\n    assert 1 + 1 == 3\n"
    path.write_bytes(source)
    tree = ast.parse(source, str(path))
    try:
        compat.rewrite_asserts(tree, source, str(path), pytestconfig)
    except (ImportError, TypeError) as err:
        pytest.fail(changed("_pytest.assertion.rewrite.rewrite_asserts", err))
    assert "@py_assert" in ast.dump(tree), changed("what rewrite_asserts does (no assertion was rewritten)")
    compile(tree, str(path), "exec", dont_inherit=True)


def test_the_outcome_exceptions_the_confirmation_proxy_names_exist():
    from runners.testing import _proxy

    missing = []
    for spec in _proxy._OUTCOME_CLASSES:
        module, _, name = spec.partition(":")
        if module.startswith("_pytest") and not isinstance(getattr(importlib.import_module(module), name, None), type):
            missing.append(spec)
    assert not missing, changed(f"its outcome exceptions: {', '.join(missing)} (named in runners/testing/_proxy.py)")


def test_a_cached_rewrite_read_for_a_copy_of_its_test_file_names_the_copy(tmp_path, monkeypatch):
    import os
    import shutil
    import subprocess
    import sys

    from _pytest.assertion import rewrite

    project, copy = tmp_path / "project", tmp_path / "copy"
    project.mkdir()
    (project / "test_sample.py").write_text(
        "def test_sample():\n    def inner():\n        return 1\n    assert inner() == 1\n"
    )
    # pytest caches its rewrite of the file beside it, as a user's run does
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py"],
        cwd=project,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout
    name = compat.cached_rewrite_name("test_sample")
    assert (project / "__pycache__" / name).is_file(), changed("where it caches a rewritten test module")
    shutil.copytree(project, copy)  # the time stamps too, as the snapshot copies them
    monkeypatch.setattr(rewrite, "_read_pyc", rewrite._read_pyc)  # put back after the test
    compat.correct_cached_rewrite_paths()
    compat.correct_cached_rewrite_paths()  # once is enough: a second call does not wrap again
    code = compat.read_cached_rewrite(copy / "test_sample.py", copy / "__pycache__" / name)
    assert code is not None, changed("_pytest.assertion.rewrite._read_pyc (the cached rewrite was not read)")
    test = next(c for c in code.co_consts if getattr(c, "co_name", "") == "test_sample")
    inner = next(c for c in test.co_consts if getattr(c, "co_name", "") == "inner")
    assert {code.co_filename, test.co_filename, inner.co_filename} == {str(copy / "test_sample.py")}
    (copy / "test_sample.py").write_text("def test_sample():\n    assert False\n")
    assert compat.read_cached_rewrite(copy / "test_sample.py", copy / "__pycache__" / name) is None  # stale
