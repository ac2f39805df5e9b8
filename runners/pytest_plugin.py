"""orps's pytest plugin: per-test records sent through a channel the candidate cannot forge.

Shaped like pytest-reportlog: module-level hooks register a small recorder class. It runs
inside the sandbox with the stdlib and pytest only (the evaluator copies this file under a
private name and loads it with `-p`, so importing it never imports the rest of orps).

The channel: the parent passes two inherited pipe fds. At *import* time (pytest imports
`-p` plugins before any conftest, hence before any candidate code runs) we read a one-time
HMAC key from the first pipe, close it and drop the fd numbers from the environment. Every
record then goes to the result pipe with a sequence number and an HMAC. The parent accepts
only correctly signed, in-sequence records and requires the final `finish` record, so lines
written by a candidate, a run cut short (`os._exit`, a signal) or a forked twin all show.

At the end (and when collection finishes) the recorder checks that nobody replaced the
pytest internals that decide outcomes, registered a new plugin or hook wrapper, swapped a
test function's code, or installed a trace function: any of that is reported as tampering.
Limit, stated honestly: the key lives in this process's memory, so a candidate written to
attack *this* plugin (digging through `gc` for it) could still forge records. The OS
sandbox still confines such a run; these checks stop the reward hacks seen in practice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import sys
import time
import types

KEY_FD_ENV = "ORPS_KEY_FD"
RESULT_FD_ENV = "ORPS_RESULT_FD"
MESSAGE_LIMIT = 1500


KEY_BYTES = 32


def _read_key() -> tuple[bytes, int, set[str]] | None:
    """(key, result fd, the conftest files that existed before the run) from the key pipe."""
    key_fd, result_fd = os.environ.pop(KEY_FD_ENV, None), os.environ.pop(RESULT_FD_ENV, None)
    if not key_fd or not result_fd:
        return None
    fd, data = int(key_fd), b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    finally:
        os.close(fd)
    conftests = set(json.loads(data[KEY_BYTES:].decode() or "[]"))
    return data[:KEY_BYTES], int(result_fd), {os.path.realpath(c) for c in conftests}


_CHANNEL = _read_key()  # before any conftest or candidate code exists in this process


WATCHED = (
    "_pytest.runner:runtestprotocol", "_pytest.runner:call_and_report", "_pytest.runner:call_runtest_hook",
    "_pytest.runner:CallInfo.from_call", "_pytest.runner:CallInfo.__init__",
    "_pytest.runner:pytest_runtest_makereport", "_pytest.runner:pytest_runtest_call",
    "_pytest.skipping:pytest_runtest_makereport", "_pytest.python:Function.runtest",
    "_pytest.python:pytest_pyfunc_call", "_pytest.reports:TestReport.__init__",
    "_pytest.reports:TestReport.from_item_and_call", "_pytest.reports:BaseReport.passed",
    "_pytest.reports:BaseReport.failed", "_pytest.reports:BaseReport.skipped",
    "pluggy._callers:_multicall", "pluggy._hooks:HookCaller.__call__",
)


def _lookup(spec: str):
    """The object at `module:attr.attr` (classmethods unwrapped), or None where this pytest
    version has no such thing."""
    import importlib

    module, _, path = spec.partition(":")
    obj = importlib.import_module(module)
    for part in path.split("."):
        holder = obj
        obj = getattr(obj, part, None)
        if obj is None:
            return None
        if isinstance(holder, type):
            obj = holder.__dict__.get(part, obj)  # the raw descriptor: property, classmethod...
    return obj


def _watched() -> dict[str, object]:
    """The functions that decide whether a test passed (what reward hackers patch)."""
    found = {spec: _lookup(spec) for spec in WATCHED}
    found.update({f"recorder.{name}": value for name, value in vars(Recorder).items() if callable(value)})
    return {name: value for name, value in found.items() if value is not None}


def _trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Keep the head (what failed) and the tail (where), which is what a model reads."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2 - 10
    return text[:half] + "\n[... trimmed ...]\n" + text[-half:]


def failure_text(report) -> str:
    """The assertion and the traceback lines around it, without pytest's own frames."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    entries = getattr(getattr(longrepr, "reprtraceback", None), "reprentries", None)
    if crash is None or entries is None:
        return _trim(str(longrepr))
    lines: list[str] = []
    for entry in entries[-3:]:
        location = getattr(entry, "reprfileloc", None)
        body = [line for line in getattr(entry, "lines", []) if line.strip()]
        if location is not None:
            lines.append(f"{location.path}:{location.lineno}")
        lines.extend(body[-10:])
    first = crash.message.splitlines()[0] if crash.message else ""
    if not any(first in line for line in lines):
        lines.append(f"{os.path.relpath(crash.path) if os.path.isabs(crash.path) else crash.path}:"
                     f"{crash.lineno}: {crash.message}")
    return _trim("\n".join(lines))


class Recorder:
    """Writes one signed JSON line per event to the result pipe."""

    def __init__(self, key: bytes, fd: int, conftests: set[str], config):
        self._key, self._fd, self._seq, self._conftests = key, fd, 0, conftests
        self._started = time.perf_counter()
        self._pm = config.pluginmanager
        self._hookexec = self._pm._inner_hookexec
        self._trace = (sys.gettrace(), sys.getprofile())
        self._plugins: set[int] = set()
        self._codes: dict[str, object] = {}

    def _emit(self, record: dict) -> None:
        record["seq"] = self._seq
        self._seq += 1
        body = json.dumps(record, sort_keys=True)
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        data = (body + "\t" + mac + "\n").encode()
        while data:
            data = data[os.write(self._fd, data):]

    def _tampering(self, session) -> list[str]:
        problems = [f"{name} was replaced" for name, fn in _watched().items() if _BASELINE.get(name) is not fn]
        if self._pm._inner_hookexec is not self._hookexec:
            problems.append("pytest's hook dispatcher was replaced")
        if (sys.gettrace(), sys.getprofile()) != self._trace:
            problems.append("a trace or profile function was installed")
        for plugin in self._pm.get_plugins():
            if id(plugin) not in self._plugins and not _legitimate(plugin, self._conftests):
                name = self._pm.get_name(plugin) or getattr(plugin, "__name__", type(plugin).__name__)
                problems.append(f"an unexpected pytest plugin was registered: {name}")
        for item in session.items:
            code = getattr(getattr(item, "function", None), "__code__", None)
            if item.nodeid in self._codes and code is not self._codes[item.nodeid]:
                problems.append(f"the test function {item.nodeid} was replaced")
        return problems

    def pytest_configure(self, config):
        self._plugins = {id(p) for p in config.pluginmanager.get_plugins()}

    def pytest_collectreport(self, report):
        if report.failed:
            self._emit({"type": "collect_error", "nodeid": report.nodeid, "message": _trim(str(report.longrepr))})

    def pytest_collection_finish(self, session):
        for item in session.items:
            code = getattr(getattr(item, "function", None), "__code__", None)
            self._codes[item.nodeid] = code
            if code is not None and os.path.realpath(code.co_filename) != os.path.realpath(str(item.path)):
                self._emit({"type": "tampered", "reason": f"{item.nodeid} runs code from {code.co_filename}"})
        self._emit({"type": "collected", "count": len(session.items), "ids": [i.nodeid for i in session.items]})
        problems = self._tampering(session)
        if problems:
            self._emit({"type": "tampered", "reason": "; ".join(problems)})

    def pytest_runtest_logreport(self, report):
        message = ""
        if report.failed:
            message = failure_text(report)
        elif report.skipped:
            message = _trim(str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr))
        self._emit({"type": "report", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                    "duration": report.duration, "message": message})

    def pytest_sessionfinish(self, session, exitstatus):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._emit({"type": "finish", "exitstatus": int(exitstatus), "tampered": self._tampering(session),
                    "records": self._seq, "session_s": time.perf_counter() - self._started,
                    "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                    "maxrss_kb": max(usage.ru_maxrss, children.ru_maxrss)})


def _legitimate(plugin, conftests: set[str]) -> bool:
    """Plugins pytest itself registers during a session, and the conftest files that
    existed before the run (the parent lists them). Anything else appearing after start-up
    is candidate code trying to hook into the run."""
    if isinstance(plugin, types.ModuleType):
        return os.path.realpath(getattr(plugin, "__file__", "") or "") in conftests
    owner = plugin if isinstance(plugin, type) else type(plugin)
    return (owner.__module__ or "").split(".")[0] in ("_pytest", "pytest", "pluggy")


_BASELINE = _watched() if _CHANNEL else {}  # at import: before any candidate code


def pytest_configure(config):
    if _CHANNEL is not None and not config.pluginmanager.has_plugin("orps-recorder"):
        key, fd, conftests = _CHANNEL
        config.pluginmanager.register(Recorder(key, fd, conftests, config), "orps-recorder")
