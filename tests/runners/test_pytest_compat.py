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
