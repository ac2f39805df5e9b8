"""Start pytest inside the sandbox so that nothing in the project can stand in for it.

Copied by `runners.sandbox.workspace` beside orps's plugin as `_orps_boot.py` and run (cold) as
`python PLUGIN_DIR/_orps_boot.py PYTEST_ARGS...`, or by the warm worker's fork with the same
argv; stdlib only. `python -m pytest` with a PYTHONPATH would put the
project's copy first on sys.path before pytest, pluggy and orps's plugin are imported, so a
`pytest.py`, `_orps_pytest_plugin.py` or `sitecustomize.py` in the project would be imported
in their place (and could read the result channel's key). Here:
1. the interpreter starts with no PYTHONPATH and this script's directory (ours, read-only)
   as sys.path[0]: only the interpreter's own stdlib and site-packages are searched, so its
   `sitecustomize` and `.pth` files are the environment's, never the project's;
2. pytest, its dependencies and built-in plugins, and orps's plugin (from this directory, by
   path) are imported now, before any project path exists;
3. pytest's reader of its cached rewrites is made to correct the file name in the code it
   reads (`_pytest_compat.correct_cached_rewrite_paths`: the project's cached rewrites are
   shown to the run in a copy of the project, elsewhere);
4. then the project's paths are put first, as `python -m pytest` from the project root would
   have them (and in PYTHONPATH for the processes tests start), and pytest runs.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = "_orps_pytest_plugin"
PATHS_ENV = "ORPS_PROJECT_PATHS"
PROXY = "_orps_proxy"
COMPAT = "_orps_pytest_compat"
CONFIRM_ENV = "ORPS_CONFIRM"


def _preload() -> None:
    import importlib
    import importlib.util

    import pytest  # noqa: F401 - imported now, from the interpreter's site-packages

    for name in (
        "pluggy",
        "iniconfig",
        "packaging",
        "packaging.version",
        "exceptiongroup",
        "tomli",
        "ast",
        "inspect",
        "functools",
        "linecache",
        "unittest",
        "configparser",
        "sysconfig",
    ):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if COMPAT not in sys.modules:  # pytest's private names; the plugin uses them too
        spec = importlib.util.spec_from_file_location(COMPAT, os.path.join(HERE, "_pytest_compat.py"))
        assert spec is not None and spec.loader is not None  # a .py file: its spec and loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[COMPAT] = module
        spec.loader.exec_module(module)
    try:
        for name in sys.modules[COMPAT].default_plugin_modules():
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - an older pytest: its own imports still happen below
        pass
    if PLUGIN not in sys.modules:  # the warm worker's fork may have it already: never twice
        spec = importlib.util.spec_from_file_location(PLUGIN, os.path.join(HERE, PLUGIN + ".py"))
        assert spec is not None and spec.loader is not None  # a .py file: its spec and loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[PLUGIN] = module
        spec.loader.exec_module(module)


def _confirmation() -> None:
    """A confirmation run (`runners.testing.confirm`): the candidate's code is in another process;
    its proxy (`runners.testing._proxy`) is loaded from our directory now, before any project path."""
    import json

    config = os.environ.pop(CONFIRM_ENV, "")
    if not config:
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location(PROXY, os.path.join(HERE, PROXY + ".py"))
    assert spec is not None and spec.loader is not None  # a .py file: its spec and loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[PROXY] = module
    spec.loader.exec_module(module)
    module.install(json.loads(config))


def main() -> None:
    if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
        del sys.path[0]  # our directory: nothing else of it is needed once the plugin is loaded
    _preload()
    try:  # cached rewrites shown to the run (copies of the project's) run as the files the run sees
        sys.modules[COMPAT].correct_cached_rewrite_paths()
    except (ImportError, AttributeError, KeyError):  # a pytest without that reader rewrites every test module
        pass
    _confirmation()
    paths = [p for p in os.environ.pop(PATHS_ENV, "").split(os.pathsep) if p]
    sys.path[:0] = [os.getcwd(), *paths]  # as `python -m pytest` in the project root
    if paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(paths)  # for the processes tests start
    import runpy

    runpy.run_module("pytest", run_name="__main__", alter_sys=True)  # as `-m pytest`: its own entry


if __name__ == "__main__":
    main()
