"""Every private name of pytest (`_pytest.*`, and pluggy's, its hook library) that orps's
test harness uses inside the sandbox, in one place, so a pytest release that moves one is
found here and by `tests/runners/test_pytest_compat.py`, which imports each against the installed
pytest and names what changed.

Stdlib only, and pytest's modules are imported only when a function is called: this file
runs inside the sandbox beside the plugin (`pytest_plugin.py`), the boot module and the
warm worker, which load it by file name from their own directory under the module name
`LOADED_AS` (never from the project's path). Supported: pytest 7 and 8. One file outside:
the confirmation proxy (`_proxy.py`, which also runs on its own in the candidate's process)
names pytest's outcome exceptions in its `_OUTCOME_CLASSES`; the same test checks them.
"""

from __future__ import annotations

LOADED_AS = "_orps_pytest_compat"
"""The name it is loaded under in the test process (`sys.modules`)."""

WATCHED = (
    "_pytest.runner:runtestprotocol",
    "_pytest.runner:call_and_report",
    "_pytest.runner:call_runtest_hook",
    "_pytest.runner:CallInfo.from_call",
    "_pytest.runner:CallInfo.__init__",
    "_pytest.runner:pytest_runtest_makereport",
    "_pytest.runner:pytest_runtest_call",
    "_pytest.skipping:pytest_runtest_makereport",
    "_pytest.python:Function.runtest",
    "_pytest.python:pytest_pyfunc_call",
    "_pytest.reports:TestReport.__init__",
    "_pytest.reports:TestReport.from_item_and_call",
    "_pytest.reports:BaseReport.passed",
    "_pytest.reports:BaseReport.failed",
    "_pytest.reports:BaseReport.skipped",
    "pluggy._callers:_multicall",
    "pluggy._hooks:HookCaller.__call__",
)
"""The functions that decide whether a test passed (what reward hackers patch), as
`module:attr.attr`; the plugin snapshots them before any candidate code runs (an attribute
this pytest lacks is skipped there)."""
NOT_IN_EVERY_PYTEST = frozenset({"_pytest.runner:call_runtest_hook"})
"""Names of `WATCHED` that only some supported pytest versions have (pytest 8.4 dropped
`call_runtest_hook`); every other one must exist."""


def default_plugin_modules() -> list[str]:
    """The modules of pytest's built-in plugins, which every session imports (preloaded by
    the boot module and the warm worker); [] where this pytest does not list them."""
    try:
        from _pytest.config import default_plugins
    except ImportError:
        return []
    return [f"_pytest.{name}" for name in default_plugins]


def skip_outcomes() -> tuple[type, type]:
    """The exceptions `pytest.skip()` and `pytest.xfail()` raise: (Skipped, XFailed)."""
    from _pytest.outcomes import Skipped, XFailed

    return Skipped, XFailed


def rewrite_asserts(tree, source: bytes, path: str, config) -> None:
    """pytest's assertion rewriter on a parsed test file, in place (as pytest compiles it)."""
    from _pytest.assertion.rewrite import rewrite_asserts as rewrite

    rewrite(tree, source, path, config)


def cached_rewrite_name(stem: str) -> str:
    """The file name pytest caches a rewritten test module under (`test_x` ->
    `test_x.cpython-311-pytest-8.3.4.pyc`), beside it in `__pycache__`."""
    from _pytest.assertion.rewrite import PYC_TAIL

    return stem + PYC_TAIL


def read_cached_rewrite(source, pyc):
    """pytest's own reader of a cached rewrite: the code object, or None when the file is
    missing, stale (the source's size or time stamp differ) or not this interpreter's."""
    from _pytest.assertion.rewrite import _read_pyc

    return _read_pyc(source, pyc)


def correct_cached_rewrite_paths() -> None:
    """Make pytest's reader of cached rewrites give the code the file name it is read for.

    pytest reads `__pycache__/X.TAG-pytest-V.pyc` back without correcting the file name the
    code was compiled at (Python's own import does: `_imp._fix_co_filename`). A cached
    rewrite made in the project, shown to a run in a copy of the project elsewhere, would
    run as code of the project's file, not of the file the run sees: tracebacks, test
    locations and the plugin's checks of where a test's code comes from would name it."""
    import os

    from _pytest.assertion import rewrite

    read = rewrite._read_pyc
    if getattr(read, "_orps_corrects_paths", False):
        return

    def _read_pyc(source, pyc, trace=lambda x: None):
        code = read(source, pyc, trace)
        if code is None or not _set_file_name(code, os.fspath(source)):
            return None  # pytest rewrites the source, as without a cached file
        return code

    _read_pyc._orps_corrects_paths = True  # type: ignore[attr-defined]  # a marker on our own function
    rewrite._read_pyc = _read_pyc


def _set_file_name(code, path: str) -> bool:
    """`code` and every code object inside it now say `path` (in place, as import does);
    False where this interpreter cannot do that (not CPython)."""
    try:
        from _imp import _fix_co_filename  # type: ignore[attr-defined]  # CPython's, not in the stubs
    except ImportError:
        return code.co_filename == path
    _fix_co_filename(code, path)
    return True
