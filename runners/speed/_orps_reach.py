"""Which of the project's functions each test calls, with the ORIGINAL code in place.

Run in the sandbox (stdlib and pytest only) as
`python -I _orps_reach.py -- PYTEST_ARGS...` with the project's paths in ORPS_PROJECT_PATHS
and a pipe's write end in ORPS_REACH_FD; the working directory is the project's root.
Lines written to the pipe:
- `{"type": "function", "id": N, "file": REL, "line": L, "name": NAME}` the first time a
  function of the project (a file under the root, outside any environment in it) runs;
- `{"type": "test", "test": NODEID, "functions": [N, ...], "seconds": S}` after each test
  (its fixtures' set-up and tear-down count: they are part of what the test runs; S is its
  time, traced);
- `{"type": "finish", "exit": CODE}` at the end.
A global trace function (no line events: it returns None) sees every Python call in the
test's thread and the threads it starts; it is removed between tests.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves our own directory out (-P)


def main() -> int:
    import pytest

    pytest_args = sys.argv[sys.argv.index("--") + 1 :]
    out = os.fdopen(int(os.environ["ORPS_REACH_FD"]), "w", buffering=1 << 16)
    paths = [p for p in os.environ.get("ORPS_PROJECT_PATHS", "").split(os.pathsep) if p]
    sys.path[1:1] = paths + [os.getcwd()]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    root = os.path.realpath(os.getcwd()) + os.sep
    here = os.path.dirname(os.path.abspath(__file__))
    # An environment inside the project (`.venv/`) is not the project's code, nor are we.
    outside = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, here} if p)
    seen: set = set()
    ids: dict = {}
    files: dict = {}

    def tracer(frame, event, arg):
        seen.add(frame.f_code)

    def project_file(name: str):
        """The path of `name` relative to the root, or None when it is not the project's."""
        if name not in files:
            real = os.path.realpath(name) if name and not name.startswith("<") else ""
            mine = real.startswith(root) and not real.startswith(outside) and "site-packages" not in real
            files[name] = real[len(root) :] if mine else None
        return files[name]

    class Reach:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            seen.clear()
            started = time.perf_counter()
            threading.settrace(tracer)
            sys.settrace(tracer)
            try:
                yield
            finally:
                sys.settrace(None)
                threading.settrace(None)
                seconds = round(time.perf_counter() - started, 4)
                numbers = []
                for code in seen:
                    if code not in ids:
                        rel = project_file(code.co_filename)
                        ids[code] = len(ids) if rel is not None else None
                        if rel is not None:
                            record = {"file": rel, "line": code.co_firstlineno, "name": code.co_name}
                            out.write(json.dumps({"type": "function", "id": ids[code], **record}) + "\n")
                    if ids[code] is not None:
                        numbers.append(ids[code])
                record = {"type": "test", "test": item.nodeid, "functions": sorted(numbers), "seconds": seconds}
                out.write(json.dumps(record) + "\n")

    code = pytest.main(["-p", "no:cacheprovider", "-q", "--no-header", "-rN", *pytest_args], plugins=[Reach()])
    out.write(json.dumps({"type": "finish", "exit": int(code)}) + "\n")
    out.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
