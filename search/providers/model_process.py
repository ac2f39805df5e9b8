"""The embedded model's child process, seen from orps: start it, talk to it, watch it die.

One child per model file (search.providers.model_worker speaks the protocol). Calls from any
thread are queued to it and answered in order. What this module guarantees:
- a native crash, an out-of-memory kill or a hang of the child fails every call waiting on
  it with `ModelCrashed`: one sentence naming the signal (`the embedded model crashed
  (SIGSEGV in llama.cpp)`) and what to do next, never a traceback; the next call starts a
  new child;
- a cancelled call stops the model at its next token; when the child has not stopped
  within CANCEL_GRACE_S (it is evaluating a long prompt, which llama.cpp does not
  interrupt), it is killed and the calls still waiting are sent to a new child;
- the child never outlives orps: it exits at the end of its stdin and when its parent
  changes.
Kept whole because the child's life (start, calls, cancel, death) is one state machine
under one lock: split, its invariants would span modules.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WORKER_MODULE = "search.providers.model_worker"
"""The child's module (`python -m`); tests put a scripted one in its place."""
CANCEL_GRACE_S = 0.5
"""How long a cancelled generation may take to stop at a token before its child is killed."""
HANG_AFTER_S = 180.0
"""A child busy with a call that has said nothing for this long is hung: killed, reported.
(It reports every half second while generating; a 4,096-token prompt on a loaded 2-core
machine takes tens of seconds, during which llama.cpp says nothing.)"""
STDERR_LINES = 30

DOCTOR_HINT = "`orps doctor` shows the CPU features and the llama.cpp build"


def _to_stderr(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)  # looked up now: the TUI captures stderr while it runs
    except (OSError, ValueError):
        pass  # nobody reads our stderr any more: the line is only for information


notify = _to_stderr
"""Where the child's messages for the user go (one line each: the model's one-time
preparation); replaceable by a front end that shows them its own way."""


class ModelCrashed(RuntimeError):
    """The model's child process died (a signal, an exit) or hung; `cause` says which:
    "signal", "oom" (SIGKILL from outside), "hang" or "exit"."""

    def __init__(self, message: str, hint: str, cause: str, signal_name: str | None = None, detail: str = ""):
        super().__init__(message)
        self.message, self.hint, self.cause, self.signal_name, self.detail = message, hint, cause, signal_name, detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.hint, self.cause, self.signal_name, self.detail))


class ModelUnavailable(RuntimeError):
    """The child cannot run the model at all (library missing, file unreadable)."""


class _Restarted(Exception):
    """The child was killed on purpose (a cancel it did not hear in time): ask the next one."""


def describe_death(returncode: int, cause: str | None, stderr_tail: list[str]) -> ModelCrashed:
    """The one sentence for how the child ended."""
    last = next((line for line in reversed(stderr_tail) if line.strip()), "")
    detail = f": {last.strip()[:200]}" if last and returncode > 0 else ""
    if cause == "hang":
        return ModelCrashed(
            f"the embedded model hung (no progress in {HANG_AFTER_S:.0f} s) and was stopped",
            f"{DOCTOR_HINT}; a slower machine may need fewer --max-tokens",
            "hang",
            "SIGKILL",
        )
    if returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGKILL:
            return ModelCrashed(
                f"the embedded model was killed ({name}: from outside orps, most often the "
                "kernel's out-of-memory killer)",
                f"free some memory and try again; {DOCTOR_HINT}",
                "oom",
                name,
            )
        return ModelCrashed(f"the embedded model crashed ({name} in llama.cpp)", DOCTOR_HINT, "signal", name)
    return ModelCrashed(
        f"the embedded model's process exited with status {returncode}{detail}",
        DOCTOR_HINT,
        "exit",
        detail=last.strip(),
    )


class Call:
    """One request to the child; `wait` until it has an answer or an error."""

    def __init__(self, rid: int, request: dict[str, Any]):
        self.id, self.request = rid, request
        self.result: dict[str, Any] | None = None
        self.load_s: float | None = None
        self.gen_s: float | None = None
        self.order: int | None = None
        """In a batch: where this answer came among the batch's answers (0: it ended first)."""
        self.error: BaseException | None = None
        self.cancelled = False
        self.started = False
        self._done = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def settle(
        self,
        *,
        result: dict[str, Any] | None = None,
        error: BaseException | None = None,
        cancelled: bool = False,
        load_s: float | None = None,
        gen_s: float | None = None,
        order: int | None = None,
    ) -> None:
        if self._done.is_set():
            return
        self.result, self.error, self.cancelled, self.load_s, self.gen_s = result, error, cancelled, load_s, gen_s
        self.order = order
        self._done.set()


def _package_root() -> Path:
    """The directory holding the `search` package: the child's working directory, so that
    `python -m` finds our `search` and never a module of the user's project."""
    import search

    return Path(search.__file__).resolve().parent.parent


def usable_cores() -> int:
    """The cores this process may run on (a container's or `taskset`'s limit, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, with OpenMP's waiting threads sleeping instead of spinning.

    llama.cpp's CPU build runs its threads under OpenMP, whose default makes a waiting thread
    spin. When other work shares the cores (the sandboxed tests, a build, an editor's
    indexer), the spinning threads take the cores from the one thread with work to do: at load
    average 6 on 2 cores, 2 threads made 1.7 tokens/s spinning and 17.5 sleeping (BENCHMARKS.md,
    `benchmarks/bench_local_model.py`). A user's own OMP_WAIT_POLICY is kept."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


class ModelProcess:
    """One child process serving one model file."""

    def __init__(
        self,
        model_path: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        module: str | None = None,
        python: str | None = None,
        extra_args: tuple[str, ...] = (),
    ):
        """`python`: another interpreter (another llama.cpp build, for the benchmark);
        `extra_args`: more worker options (`--extra-buffer-types`, for the benchmark)."""
        threads = n_threads or usable_cores()
        command = [
            python or sys.executable,
            "-m",
            module or WORKER_MODULE,
            model_path,
            "--ctx",
            str(n_ctx),
            "--threads",
            str(threads),
            *extra_args,
        ]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=_package_root(),
            close_fds=True,
            env=worker_environment(),
        )
        self.pid = self.proc.pid
        self.info: dict[str, Any] | None = None
        self.ready = threading.Event()
        self.death: ModelCrashed | None = None
        self.dead = threading.Event()
        self._ids = itertools.count(1)
        self._calls: dict[int, Call] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._killed_for: str | None = None  # "cancel", "hang" or "close": a death we caused
        self._last_heard = time.monotonic()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        for target, name in (
            (self._read_answers, "orps-model-answers"),
            (self._read_stderr, "orps-model-stderr"),
            (self._watch, "orps-model-watch"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    # -- requests -------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self.dead.is_set() and self._killed_for is None

    def submit(self, request: dict[str, Any]) -> Call:
        call = Call(next(self._ids), request)
        with self._lock:
            if self.dead.is_set() or self._killed_for is not None:
                call.settle(error=_Restarted() if self.death is None else self.death)
                return call
            if not self._calls:
                self._last_heard = time.monotonic()  # silence while idle is not a hang
            self._calls[call.id] = call
        if not self._send({"op": "generate", "id": call.id, **request}):
            self._forget(call.id)
            call.settle(error=self.death or _Restarted())
        return call

    def submit_batch(self, requests: list[dict[str, Any]]) -> list[Call]:
        """Send `requests` to be generated together (one llama.cpp batch); one Call each,
        answered, cancelled and failed one by one as with `submit`."""
        if len(requests) == 1:
            return [self.submit(requests[0])]
        calls = [Call(next(self._ids), request) for request in requests]
        with self._lock:
            if self.dead.is_set() or self._killed_for is not None:
                for call in calls:
                    call.settle(error=_Restarted() if self.death is None else self.death)
                return calls
            if not self._calls:
                self._last_heard = time.monotonic()
            self._calls.update((call.id, call) for call in calls)
        if not self._send({"op": "generate_batch", "requests": [{"id": c.id, **c.request} for c in calls]}):
            for call in calls:
                self._forget(call.id)
                call.settle(error=self.death or _Restarted())
        return calls

    def cancel(self, call: Call) -> None:
        """Stop `call` (the caller has given up on it): at the child's next token, or by killing
        the child if it is still busy with it CANCEL_GRACE_S from now."""
        self._forget(call.id)
        call.settle(cancelled=True)
        self._send({"op": "cancel", "id": call.id})
        if call.started:
            timer = threading.Timer(CANCEL_GRACE_S, self._kill_if_still_on, args=(call.id,))
            timer.daemon = True
            timer.start()

    def close(self) -> None:
        """End the child now (its calls end as cancelled: a closed child is not replaced)."""
        self._killed_for = self._killed_for or "close"
        self._kill()

    # -- internals ------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> bool:
        data = (json.dumps(message) + "\n").encode()
        try:
            with self._write_lock:
                assert self.proc.stdin is not None  # a pipe (Popen above)
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False  # the child is gone: its death is reported by the reader

    def _forget(self, rid: int) -> Call | None:
        with self._lock:
            return self._calls.pop(rid, None)

    def _kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass

    def _kill_if_still_on(self, rid: int) -> None:
        if self.dead.is_set() or rid not in self._busy:
            return
        self._killed_for = self._killed_for or "cancel"
        self._kill()

    _busy: frozenset[int] = frozenset()
    """The requests the child is generating now (several in a batch)."""

    @property
    def busy(self) -> bool:
        """The child is generating (it has started a request and not answered it)."""
        return bool(self._busy)

    def _read_answers(self) -> None:
        assert self.proc.stdout is not None  # a pipe (Popen above)
        for line in self.proc.stdout:
            self._last_heard = time.monotonic()
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self._handle(message)
        self._died()

    def _handle(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        rid: Any = message.get("id")  # the request's id (an int) in every answer but "ready"
        if event == "ready":
            self.info = message.get("info") or {}
            self.ready.set()
            return
        if event == "started":
            self._busy = self._busy | {rid}
            with self._lock:
                call = self._calls.get(rid)
            if call is not None:
                call.started = True
            return
        if event in ("progress", "alive"):
            return
        if event == "notice":
            notify(str(message.get("text") or ""))
            return
        self._busy = self._busy - {rid}
        call = self._forget(rid)
        if call is None:
            return  # the caller gave up on it
        if event == "done":
            call.settle(
                result=message.get("result"),
                load_s=message.get("load_s"),
                gen_s=message.get("gen_s"),
                order=message.get("order"),
            )
        elif event == "cancelled":
            call.settle(cancelled=True)
        elif event == "error":
            kind = ModelUnavailable if message.get("kind") == "unavailable" else RuntimeError
            call.settle(error=kind(message.get("error") or "the embedded model failed"))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None  # a pipe (Popen above)
        for raw in self.proc.stderr:  # drained always, so the child never blocks on a full pipe
            self._stderr.append(raw.decode(errors="replace").rstrip("\n"))

    def _died(self) -> None:
        returncode = self.proc.wait()
        cause = self._killed_for
        error: BaseException | None
        if cause == "close":
            error = None  # ended on purpose (orps is closing): its calls end, none is sent again
        elif cause == "cancel":
            error = _Restarted()
        else:
            time.sleep(0.05)  # let the stderr reader take the child's last words
            self.death = describe_death(returncode, cause, list(self._stderr))
            error = self.death
        with self._lock:
            calls, self._calls = list(self._calls.values()), {}
        self.dead.set()
        self.ready.set()
        for call in calls:
            if error is None:
                call.settle(cancelled=True)
            else:
                call.settle(error=error)

    def _watch(self) -> None:
        """Kill the child when it is busy and silent for HANG_AFTER_S."""
        while not self.dead.wait(1.0):
            with self._lock:
                waiting = bool(self._calls)
            if waiting and time.monotonic() - self._last_heard > HANG_AFTER_S:
                self._killed_for = self._killed_for or "hang"
                self._kill()
                return

    def stderr_tail(self) -> list[str]:
        return list(self._stderr)


_processes: dict[str, ModelProcess] = {}
_processes_lock = threading.Lock()


def process_for(model_path: str, **kwargs: Any) -> ModelProcess:
    """The running child for `model_path`, started when there is none (or it died)."""
    with _processes_lock:
        proc = _processes.get(model_path)
        if proc is None or not proc.alive:
            proc = _processes[model_path] = ModelProcess(model_path, **kwargs)
        return proc


def close_all() -> None:
    with _processes_lock:
        procs = list(_processes.values())
        _processes.clear()
    for proc in procs:
        proc.close()


def run_call(
    model_path: str,
    request: dict[str, Any],
    cancel: threading.Event,
    *,
    poll_s: float = 0.05,
    attempts: int = 3,
    first: tuple[ModelProcess, Call] | None = None,
    **kwargs: Any,
) -> Call:
    """Send `request` to the model's child and wait for its answer. Raises ModelCrashed when
    the child dies, ModelUnavailable when it cannot run the model, and returns a cancelled
    Call soon after `cancel` is set. A child killed on purpose (another call's cancel) is
    replaced and the request sent again: the same seed gives the same answer. `first`: the
    process and call of a request already sent (in a batch), to wait for before any retry."""
    for attempt in range(attempts):
        if attempt == 0 and first is not None:  # already sent, in a batch
            proc, call = first
        else:
            proc = process_for(model_path, **kwargs)
            call = proc.submit(request)
        while not call.wait(poll_s):
            if cancel.is_set():
                proc.cancel(call)
                return call
        if isinstance(call.error, _Restarted):
            continue
        if call.error is not None:
            raise call.error
        return call
    raise ModelCrashed("the embedded model's process was restarted too often", DOCTOR_HINT, "exit")
