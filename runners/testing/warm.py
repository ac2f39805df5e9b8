"""A warm worker per interpreter: pytest imported once, a fork per sandboxed test run.

A cold run starts a fresh interpreter inside bubblewrap and imports pytest (about 0.2 s of
CPU before the first test). Here one long-lived process (`runners/testing/_warm_worker.py`, run by
the interpreter that runs the tests, with a scrubbed environment) has imported pytest and its
built-in plugins; for each run `runners.sandbox.run` starts the sandbox as usual (bwrap with every
mount, limit and cgroup of a cold run) around a placeholder, and asks the worker to fork a
process that joins that sandbox's namespaces, drops every privilege, and runs pytest there.
The fork never sees another candidate: the worker itself never runs candidate code or reads
a key, so each fork starts from the same state (`_warm_worker`'s docstring has the steps).

Talks to the worker over a SOCK_SEQPACKET socket (JSON messages, fds attached with
SCM_RIGHTS); a reader thread resolves each run's futures on the loop that asked.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

WORKER = Path(__file__).with_name("_warm_worker.py")
READY_TIMEOUT_S = 30.0
WARM_PRELOAD = ("pytest",)
"""What the warm worker imports once, with pytest's built-in plugins and the installed pytest
plugins the first project loads. The project's own modules (and any third-party module it
imports) are imported in each fork, as in a cold run."""
COLD_PLUGINS = ("xdist", "pytest_forked", "pytest_cov", "pytest_xprocess")
"""Plugins that want the process from its very start (coverage of every import, their own
worker processes): a project that loads one runs cold."""


class WarmUnavailable(RuntimeError):
    """The warm worker cannot run this (it failed to start or died): run cold instead."""


@dataclass
class WarmRun:
    """One run forked by the worker: the joiner's host pid, then its exit status."""

    pid: asyncio.Future = field(default_factory=lambda: _future())
    status: asyncio.Future = field(default_factory=lambda: _future())


def _future() -> asyncio.Future:
    # asyncio is imported where a run is asked for, not with this module: a one-shot `orps
    # check` starts its worker before anything else needs asyncio.
    import asyncio

    return asyncio.get_running_loop().create_future()


class WarmWorker:
    """The worker process for one interpreter; `close()` ends it (runs in flight die with
    their sandboxes, which their callers kill)."""

    def __init__(self, python: str, env: dict[str, str], preload: Sequence[str] = (), read_paths: Sequence[Path] = ()):
        self.python = python
        self.read_paths = list(read_paths)
        """What a sandbox must show of this interpreter (a project's virtualenv, its prefixes):
        the first run (`sandbox.warm_ready`) binds them as every run of the worker does."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[asyncio.AbstractEventLoop, WarmRun]] = {}
        self._next_id = 0
        self._ready = threading.Event()
        self.broken: str | None = None
        self.probe = "new"
        """"new", "probing", "ok" or "failed": whether a first run worked (`sandbox.warm_ready`)."""
        self._proc: subprocess.Popen[bytes] | None
        try:
            self._proc = subprocess.Popen(
                [python, str(WORKER), str(theirs.fileno()), ",".join(preload)],
                env=env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as err:
            self.broken = f"the warm worker did not start: {err}"
            self._proc = None
            ours.close()
            return
        finally:
            theirs.close()
        threading.Thread(target=self._read, name="orps-warm-reader", daemon=True).start()

    @property
    def pid(self) -> int | None:
        """The worker's process id (None when it did not start or is closed)."""
        return self._proc.pid if self._proc is not None else None

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            if message.get("ready"):
                self._ready.set()
                continue
            with self._lock:
                loop, run = self._runs.get(message["id"], (None, None))
                if "status" in message:
                    self._runs.pop(message["id"], None)
            if run is None:
                continue
            assert loop is not None  # stored with its run
            which, value = (run.status, message["status"]) if "status" in message else (run.pid, message["pid"])
            _resolve(loop, which, value)
        stderr = b""
        proc = self._proc  # once: close() may set it to None meanwhile
        if proc is not None:
            try:
                assert proc.stderr is not None  # a pipe
                stderr = proc.stderr.read() if proc.poll() is not None else b""
            except (OSError, ValueError):
                pass
        self.broken = self.broken or (
            "the warm worker ended" + (f": {stderr.decode(errors='replace')[-300:]}" if stderr else "")
        )
        self._ready.set()
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for loop, run in runs:
            for future in (run.pid, run.status):
                _resolve(loop, future, WarmUnavailable(self.broken))

    async def ready(self) -> bool:
        """Wait (once, off the loop) until the worker has imported pytest; False if it cannot."""
        import asyncio

        if not self._ready.is_set():
            await asyncio.to_thread(self._ready.wait, READY_TIMEOUT_S)
            if not self._ready.is_set():
                self.broken = "the warm worker did not get ready in time"
        return self.broken is None

    def start(self, request: dict, fds: list[int]) -> WarmRun:
        """Ask for one run (see `_warm_worker`); `fds` are dup'ed into the worker at once, so
        the caller may close its copies when this returns."""
        if self.broken:
            raise WarmUnavailable(self.broken)
        run = WarmRun()
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            self._next_id += 1
            request = {**request, "id": self._next_id}
            self._runs[self._next_id] = (loop, run)
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
        except OSError as err:
            with self._lock:
                self._runs.pop(request["id"], None)
            self.broken = f"the warm worker is unreachable: {err}"
            raise WarmUnavailable(self.broken) from None
        return run

    def close(self) -> None:
        # Called twice at once at exit (the TUI's clean-up thread, and the evaluator's
        # weakref finalizer run by atexit): the first to take the process closes it.
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            proc.wait(timeout=0.5)  # it exits on the socket's EOF at once; never hold up an exit
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        self.broken = self.broken or "closed"


def _resolve(loop: asyncio.AbstractEventLoop, future: asyncio.Future, value) -> None:
    def set_it() -> None:
        if not future.done():
            if isinstance(value, BaseException):
                future.set_exception(value)
            else:
                future.set_result(value)

    try:
        loop.call_soon_threadsafe(set_it)
    except RuntimeError:  # that loop is closed: nobody is waiting any more
        pass
