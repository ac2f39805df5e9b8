"""orps's pytest plugin: records each test's outcome through a channel the candidate cannot forge.

Loaded with `-p orps_pytest_plugin` inside the sandbox (stdlib + pytest only). At start it
reads a one-time key from a pipe (then closes it: the key is never in the environment or
on disk) and records the identity of the pytest internals that decide outcomes. Every
record it writes to the result pipe carries a sequence number and an HMAC; the last one
says how the session ended and whether any of those internals were replaced. The parent
trusts nothing else: a run that dies early, forges a line, or patches pytest is caught.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import time

MESSAGE_LIMIT = 2000


def _watched():
    """The functions that decide whether a test passed (reward hackers patch these)."""
    from _pytest import python, reports, runner

    return {
        "runner.call_and_report": runner.call_and_report,
        "runner.CallInfo.from_call": runner.CallInfo.from_call.__func__,
        "runner.pytest_runtest_makereport": runner.pytest_runtest_makereport,
        "python.Function.runtest": python.Function.runtest,
        "python.pytest_pyfunc_call": python.pytest_pyfunc_call,
        "reports.TestReport.from_item_and_call": reports.TestReport.from_item_and_call.__func__,
        "reports.BaseReport.passed": reports.BaseReport.passed,
        "reports.BaseReport.failed": reports.BaseReport.failed,
    }


def _trim(text: str) -> str:
    text = text.strip()
    if len(text) <= MESSAGE_LIMIT:
        return text
    half = MESSAGE_LIMIT // 2
    return text[:half] + "\n...\n" + text[-half:]


class Recorder:
    def __init__(self, key: bytes, fd: int):
        self._key = key
        self._fd = fd
        self._seq = 0
        self._watched = _watched()
        self._plugins: set[int] | None = None
        self._started = time.perf_counter()

    def _emit(self, record: dict) -> None:
        record["seq"] = self._seq
        self._seq += 1
        body = json.dumps(record, sort_keys=True)
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        os.write(self._fd, (body + "\t" + mac + "\n").encode())

    def pytest_collection_finish(self, session):
        self._plugins = {id(p) for p in session.config.pluginmanager.get_plugins()}
        self._emit({"type": "collected", "count": len(session.items), "ids": [i.nodeid for i in session.items]})

    def pytest_collectreport(self, report):
        if report.failed:
            self._emit({"type": "collect_error", "nodeid": report.nodeid, "message": _trim(str(report.longrepr))})

    def pytest_runtest_logreport(self, report):
        message = ""
        if report.failed:
            message = _trim(getattr(report.longrepr, "reprcrash", None) and _crash_text(report) or str(report.longrepr))
        self._emit({"type": "report", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                    "duration": report.duration, "message": message})

    def pytest_sessionfinish(self, session, exitstatus):
        tampered = [name for name, fn in _watched().items() if fn is not self._watched[name]]
        if self._plugins is not None:
            now = {id(p) for p in session.config.pluginmanager.get_plugins()}
            if now - self._plugins:
                tampered.append("plugins registered while tests ran")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._emit({"type": "finish", "exitstatus": int(exitstatus), "tampered": tampered,
                    "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                    "maxrss_kb": max(usage.ru_maxrss, children.ru_maxrss),
                    "session_s": time.perf_counter() - self._started})


def _crash_text(report) -> str:
    """The assertion and the lines around it, which is what a model needs to fix the code."""
    crash = report.longrepr.reprcrash
    lines = []
    try:
        entries = report.longrepr.reprtraceback.reprentries
        for entry in entries[-2:]:
            lines.extend(str(line) for line in getattr(entry, "lines", [])[-12:])
    except AttributeError:
        pass
    lines.append(f"{crash.path}:{crash.lineno}: {crash.message}")
    return "\n".join(lines)


def pytest_configure(config):
    key_fd = os.environ.get("ORPS_KEY_FD")
    result_fd = os.environ.get("ORPS_RESULT_FD")
    if not key_fd or not result_fd:
        return
    fd = int(key_fd)
    key = b""
    while True:
        chunk = os.read(fd, 256)
        if not chunk:
            break
        key += chunk
    os.close(fd)
    config.pluginmanager.register(Recorder(key, int(result_fd)), "orps-recorder")
