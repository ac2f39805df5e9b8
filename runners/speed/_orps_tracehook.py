"""Record the calls a command makes to one function: installed as `sitecustomize` for
`orps trace -- COMMAND` (stdlib only; copied beside `_orps_values.py` into a directory put
first on PYTHONPATH inside the sandbox).

When the module named in ORPS_TRACE_TARGET (`module:qualname`) is imported, the function is
replaced by a wrapper that writes each outermost call's arguments (encoded, distinct
inputs only, at most ORPS_TRACE_MAX calls) to the pipe in ORPS_TRACE_FD. Only arguments:
the original is run on them again when they are replayed, so nothing else is needed.
A process without the pipe (a subprocess of the command) records nothing.
"""

import os
import sys


def _install() -> None:
    spec_text, fd = os.environ.get("ORPS_TRACE_TARGET", ""), os.environ.get("ORPS_TRACE_FD", "")
    if ":" not in spec_text or not fd:
        return
    try:
        out = os.fdopen(int(fd), "w", buffering=1)
    except (OSError, ValueError):
        return
    import functools
    import importlib.abc
    import importlib.util
    import json

    from _orps_values import encode

    module_name, qualname = spec_text.split(":", 1)
    limit = int(os.environ.get("ORPS_TRACE_MAX", "500"))
    state = {"depth": 0, "seen": set()}

    def wrap(module) -> None:
        owner = module
        parts = qualname.split(".")
        try:
            for part in parts[:-1]:
                owner = getattr(owner, part)
            original = getattr(owner, parts[-1])
        except AttributeError:
            out.write(json.dumps({"type": "error", "message": f"{module_name} has no {qualname}"}) + "\n")
            return

        @functools.wraps(original)
        def tracer(*args, **kwargs):
            if not state["depth"] and len(state["seen"]) < limit:
                call = {"args": [encode(a) for a in args], "kwargs": {k: encode(v) for k, v in kwargs.items()}}
                key = json.dumps(call, sort_keys=True)
                if key not in state["seen"] and len(key) < 256 * 1024:
                    state["seen"].add(key)
                    out.write(json.dumps({"type": "call", **call}) + "\n")
            state["depth"] += 1
            try:
                return original(*args, **kwargs)
            finally:
                state["depth"] -= 1

        setattr(owner, parts[-1], tracer)
        out.write(json.dumps({"type": "installed", "module": module_name}) + "\n")

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != module_name:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                wrap(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Finder())


try:
    _install()
except Exception:  # noqa: BLE001 - tracing must never stop the user's command
    pass
