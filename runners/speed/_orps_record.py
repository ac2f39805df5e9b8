"""Record every call the selected tests make to the target, with the ORIGINAL code in place.

Run in the sandbox (stdlib and pytest only) as
`python -I _orps_record.py MODULE QUALNAME -- PYTEST_ARGS...` with the project's paths in
ORPS_PROJECT_PATHS and a pipe's write end in ORPS_RECORD_FD. Started with `-I`, nothing in
the project can stand in for the modules imported here before its paths are added.

The target is replaced in its module (or class) by a wrapper before pytest imports any test,
so `from mod import f` in a test gets the wrapper; so is every name bound to it in a module
already imported (a package that re-exports it). Only the outermost call is recorded (a
recursive function's inner calls are part of what the outer call does). For each call one
JSON line: the arguments before the call, the return value or the exception, and the
arguments after the call (what the call did to them), all encoded by `_orps_values`.
"""

import functools
import importlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves our own directory out (-P)

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_CALLS = int(os.environ.get("ORPS_RECORD_MAX_CALLS", "500"))
MAX_LINE = 256 * 1024


def main() -> int:
    import pytest
    from _orps_values import encode  # from our own directory, sys.path[0]

    module_name, qualname = sys.argv[1], sys.argv[2]
    pytest_args = sys.argv[sys.argv.index("--") + 1 :]
    out = os.fdopen(int(os.environ["ORPS_RECORD_FD"]), "w", buffering=1)
    paths = [p for p in os.environ.get("ORPS_PROJECT_PATHS", "").split(os.pathsep) if p]
    sys.path[1:1] = paths + [os.getcwd()]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)

    try:
        owner = importlib.import_module(module_name)
        parts = qualname.split(".")
        for part in parts[:-1]:
            owner = getattr(owner, part)
        original = owner.__dict__[parts[-1]] if isinstance(owner, type) else getattr(owner, parts[-1])
    except Exception as err:  # noqa: BLE001 - said on the channel, the caller reports it
        out.write(
            json.dumps(
                {"type": "error", "message": f"cannot import {module_name}.{qualname}: {type(err).__name__}: {err}"}
            )
            + "\n"
        )
        return 3
    if isinstance(original, (staticmethod, classmethod)):
        out.write(json.dumps({"type": "error", "message": "static and class methods are not recorded"}) + "\n")
        return 3
    state = {"depth": 0, "calls": 0, "seen": set()}

    def write(record: dict) -> None:
        line = json.dumps(record)
        if len(line) > MAX_LINE:
            line = json.dumps({"type": "skipped", "reason": "a call's values are larger than the size limit"})
        out.write(line + "\n")

    @functools.wraps(original)
    def recorder(*args, **kwargs):
        if state["depth"] or state["calls"] >= MAX_CALLS:
            return original(*args, **kwargs)
        before = {"args": [encode(a) for a in args], "kwargs": {k: encode(v) for k, v in kwargs.items()}}
        key = json.dumps(before, sort_keys=True)
        state["depth"] += 1
        try:
            result = original(*args, **kwargs)
        except BaseException as err:
            state["depth"] -= 1
            if key not in state["seen"]:
                state["seen"].add(key)
                state["calls"] += 1
                write(
                    {
                        "type": "call",
                        **before,
                        "raised": f"{type(err).__module__}.{type(err).__qualname__}",
                        "message": str(err)[:500],
                        "after": [encode(a) for a in args],
                        "kwargs_after": {k: encode(v) for k, v in kwargs.items()},
                    }
                )
            raise
        state["depth"] -= 1
        if key not in state["seen"]:  # the same input twice tells nothing new
            state["seen"].add(key)
            state["calls"] += 1
            write(
                {
                    "type": "call",
                    **before,
                    "returned": encode(result),
                    "after": [encode(a) for a in args],
                    "kwargs_after": {k: encode(v) for k, v in kwargs.items()},
                }
            )
        return result

    setattr(owner, parts[-1], recorder)
    # Modules already imported that hold the function under a name of their own (a package's
    # `from .recipes import *`, an alias) get the recorder too: tests often call it there.
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict) or module is owner:
            continue
        for name, value in list(namespace.items()):
            if value is original:
                try:
                    setattr(module, name, recorder)
                except (AttributeError, TypeError):
                    pass
    code = pytest.main(["-p", "no:cacheprovider", "-q", "--no-header", "-rN", *pytest_args])
    out.write(json.dumps({"type": "finish", "exit": int(code), "calls": state["calls"]}) + "\n")
    out.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
