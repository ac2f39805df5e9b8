"""Replay recorded inputs against the code in place (a candidate), in the sandbox.

`python -I _orps_replay.py MODULE QUALNAME INPUTS.json TARGET_FILE [lines]`, with the project's
paths in ORPS_PROJECT_PATHS and a pipe's write end in ORPS_REPLAY_FD. INPUTS.json holds
only the arguments of each call, never what the original answered: the candidate runs in
this process and could write anything on the pipe, but to write the original's answers it
has to compute them. orps compares what comes back, in its own process.

One JSON line per call: the return value or the exception, and the arguments after the
call; with `lines`, also the lines of TARGET_FILE that ran (coverage of the changed lines).
A function's frames stop being traced once each of its lines has run, so a recursive
function pays for tracing only until it has been through all of its lines.
"""

import importlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves our own directory out (-P)


class TimeLimit(BaseException):
    """A generated input's time limit (a BaseException: `except Exception` in the target
    does not swallow it)."""


def _alarm(signum, frame):
    raise TimeLimit()


def main() -> int:
    from _orps_values import decode, encode

    module_name, qualname, inputs_file, target_file = sys.argv[1:5]
    want_lines = sys.argv[5:6] == ["lines"]
    out = os.fdopen(int(os.environ["ORPS_REPLAY_FD"]), "w", buffering=1)
    with open(inputs_file) as f:
        calls = json.load(f)
    paths = [p for p in os.environ.get("ORPS_PROJECT_PATHS", "").split(os.pathsep) if p]
    sys.path[1:1] = paths + [os.getcwd()]
    try:
        owner = importlib.import_module(module_name)
        for part in qualname.split("."):
            owner = getattr(owner, part)
        func = owner
    except Exception as err:  # noqa: BLE001 - reported as the replay's error
        out.write(
            json.dumps(
                {"type": "error", "message": f"cannot import {module_name}.{qualname}: {type(err).__name__}: {err}"}
            )
            + "\n"
        )
        return 3
    ran: set = set()
    target = os.path.realpath(target_file)
    files: dict = {}
    finished: set = set()  # code objects whose every line has run

    def tracer(frame, event, arg):
        code = frame.f_code
        if code in finished:
            return None
        name = code.co_filename
        if name not in files:
            files[name] = os.path.realpath(name) == target
        if not files[name]:
            return None
        ran.add(frame.f_lineno)
        lines = {line for _, _, line in code.co_lines() if line}
        if lines <= ran:
            finished.add(code)
            return None
        return local

    def local(frame, event, arg):
        if event == "line":
            ran.add(frame.f_lineno)
        return local

    tracing = tracer if want_lines else None

    signal.signal(signal.SIGALRM, _alarm)
    for i, call in enumerate(calls):
        args = [decode(a) for a in call["args"]]
        kwargs = {k: decode(v) for k, v in call["kwargs"].items()}
        limit = call.get("limit_s")
        sys.settrace(tracing)
        try:
            if limit:
                signal.setitimer(signal.ITIMER_REAL, float(limit))
            result = func(*args, **kwargs)  # type: ignore[operator]  # the target, reached by getattr from its module
        except TimeLimit:
            sys.settrace(None)
            out.write(json.dumps({"type": "call", "i": i, "timeout": limit}) + "\n")
            continue
        except BaseException as err:  # noqa: BLE001 - an exception is an answer like a value
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.settrace(None)
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                out.write(json.dumps({"type": "error", "message": f"call {i} ended the process"}) + "\n")
                return 4
            record = {
                "type": "call",
                "i": i,
                "raised": f"{type(err).__module__}.{type(err).__qualname__}",
                "message": str(err)[:500],
            }
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.settrace(None)
            record = {"type": "call", "i": i, "returned": encode(result)}
        record["after"] = [encode(a) for a in args]
        record["kwargs_after"] = {k: encode(v) for k, v in kwargs.items()}
        out.write(json.dumps(record) + "\n")
    out.write(json.dumps({"type": "finish", "lines": sorted(ran)}) + "\n")
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
