"""The embedded model's child process: `python -m search.providers.model_worker MODEL.gguf`.

llama.cpp is native code: a fault in it (SIGSEGV on a CPU feature the VM does not really
grant, an abort on a failed assertion, the kernel's out-of-memory killer) ends the process
it runs in. So it runs here, not in orps: orps (search.providers.model_process) sees this
process die, names the signal, and ends the run with one line, keeping the run directory.

Protocol: one JSON object per line. orps writes requests on our stdin:
    {"op": "generate", "id": 7, "messages": [...], "temperature": 0.8, "max_tokens": 512,
     "stop": null, "seed": 3}
    {"op": "generate_batch", "requests": [{"id": 8, "messages": ...}, {"id": 9, ...}]}
    {"op": "cancel", "id": 7}
and we answer on the stdout we started with (fd 1 is then pointed at stderr, so that
nothing native code prints can corrupt the protocol):
    {"event": "ready", "pid": ..., "info": {...}}              once, before any request
    {"event": "started", "id": 7}                              a request begins
    {"event": "progress", "id": 7, "tokens": 40}               at most every PROGRESS_S
    {"event": "done", "id": 7, "result": {...}, "load_s": ..., "gen_s": ..., "order": 2}
    {"event": "cancelled", "id": 7}
    {"event": "error", "id": 7, "kind": "unavailable" | "other", "error": "..."}
    {"event": "notice", "text": "..."}                         a line for the user (the Q8_0 copy)
    {"event": "alive"}                                         a long load goes on
Requests run one at a time, in order, a batch's requests together (one llama.cpp batch,
search.providers.llama_batch), each still answered on its own, as soon as its sequence ends
(`order`, only in a batch: where it came among the batch's answers, 0 first; the same on
every run of the same batch, so orps can accept them in that order); a cancel stops its request
at its next token (the rest of its batch goes on) and drops a queued one. End of stdin (orps exited, however it exited) ends this process.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, Protocol

PROGRESS_S = 0.5
"""How often a generation reports its token count: orps's sign that the model is not hung."""
PARENT_POLL_S = 0.5


class Unavailable(Exception):
    """The model cannot run at all here (library missing, file unreadable)."""


class Backend(Protocol):
    def info(self) -> dict[str, Any]: ...

    def generate(
        self, request: dict[str, Any], should_stop: Callable[[], bool], on_token: Callable[[int], None]
    ) -> tuple[dict[str, Any], float | None]:
        """llama-cpp's chat completion dict, and the load time when this call loaded the model."""

    def generate_batch(
        self,
        requests: list[dict[str, Any]],
        should_stop: Callable[[int], bool],
        on_token: Callable[[int], None],
        on_finish: Callable[[int, dict[str, Any]], None],
    ) -> tuple[list[dict[str, Any]], float | None]:
        """One dict per request, generated together; `should_stop(i)` per request;
        `on_finish(i, answer)` as soon as request i ends (a backend may also leave that to
        the end of the batch)."""


class LlamaBackend:
    """The real model: llama-cpp-python, loaded on the first request."""

    def __init__(
        self,
        path: str,
        n_ctx: int,
        n_threads: int,
        extra_buffer_types: bool = False,
        q8_copy_dir: str | None = None,
    ):
        """`q8_copy_dir`: load a Q8_0 copy of the file kept there (made at the first load;
        search.providers.q8_copy)."""
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        self.extra_buffer_types = extra_buffer_types
        self.q8_copy_dir = q8_copy_dir
        self.notice: Callable[[str], None] = lambda text: None
        self.heartbeat: Callable[[], None] = lambda: None
        self.llm: Any = None
        self.load_s: float | None = None
        """What loading the model took for the request being served (None: it was loaded)."""

    def info(self) -> dict[str, Any]:
        try:
            from search.providers import llama_backend

            return {"llama_cpp": llama_backend.library_version(), "system_info": llama_backend.system_info()}
        except ImportError as err:
            return {"error": f"llama-cpp-python cannot be imported: {err}"}

    def _load(self) -> float | None:
        from search.providers import llama_backend

        if self.llm is not None:
            return None
        started = time.perf_counter()
        path = self._file_to_load()
        try:
            try:
                self.llm = llama_backend.load_model(
                    path, n_ctx=self.n_ctx, n_threads=self.n_threads, extra_buffer_types=self.extra_buffer_types
                )
            except (ValueError, OSError) as err:
                if path == self.path:
                    raise
                from search.providers import q8_copy

                q8_copy.discard(Path(path), self.notice, str(err))
                self.llm = llama_backend.load_model(
                    self.path, n_ctx=self.n_ctx, n_threads=self.n_threads, extra_buffer_types=self.extra_buffer_types
                )
        except ImportError as err:
            raise Unavailable(f"llama-cpp-python is not installed: {err}") from None
        except (ValueError, OSError) as err:
            raise Unavailable(f"the local model file {self.path} cannot be loaded: {err}") from None
        return time.perf_counter() - started

    def connect(self, notice: Callable[[str], None], heartbeat: Callable[[], None]) -> None:
        """Where messages for the user and signs of life go while no request reports."""
        self.notice, self.heartbeat = notice, heartbeat

    def _file_to_load(self) -> str:
        if not self.q8_copy_dir:
            return self.path
        from search.providers import q8_copy

        return str(q8_copy.prepare(Path(self.path), Path(self.q8_copy_dir), self.notice, heartbeat=self.heartbeat))

    def generate(
        self, request: dict[str, Any], should_stop: Callable[[], bool], on_token: Callable[[int], None]
    ) -> tuple[dict[str, Any], float | None]:
        from search.providers import llama_backend

        load_s = self.load_s = self._load()
        out = llama_backend.chat(
            self.llm,
            request["messages"],
            temperature=request.get("temperature", 0.0),
            max_tokens=request.get("max_tokens", 512),
            stop=request.get("stop"),
            seed=request.get("seed"),
            code_for=request.get("code_for") or "",
            should_stop=should_stop,
            on_token=on_token,
        )
        return out, load_s

    def generate_batch(
        self,
        requests: list[dict[str, Any]],
        should_stop: Callable[[int], bool],
        on_token: Callable[[int], None],
        on_finish: Callable[[int, dict[str, Any]], None],
    ) -> tuple[list[dict[str, Any]], float | None]:
        from search.providers.llama_batch import BatchRequest, generate_batch

        load_s = self.load_s = self._load()
        batch = [
            BatchRequest(
                r["messages"],
                float(r.get("temperature") or 0.0),
                int(r.get("max_tokens") or 512),
                list(r.get("stop") or []),
                int(r.get("seed") or 0),
                str(r.get("code_for") or ""),
            )
            for r in requests
        ]
        return generate_batch(
            self.llm,
            batch,
            n_threads=self.n_threads,
            should_stop=should_stop,
            on_token=on_token,
            on_finish=on_finish,
            # From its first answer on, orps checks the answers in its sandbox, on one core:
            # two threads beside a check wait for each other at every step (a demo batch took
            # 40.9 s with the checks beside it against 26.1 s without).
            answering_threads=max(1, self.n_threads - 1),
        ), load_s


class _Channel:
    """Our answers, one JSON line each, on the protocol's file descriptor."""

    def __init__(self, fd: int):
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, **message: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self.lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]


def serve(backend: Backend, requests_in: BinaryIO | None = None, answers_fd: int | None = None) -> None:
    """Answer requests until stdin ends. `answers_fd`: where the protocol's answers go (by
    default our original stdout, which is then taken away from native code)."""
    if answers_fd is None:
        answers_fd = os.dup(1)
        os.dup2(2, 1)  # whatever llama.cpp prints to stdout goes to stderr, not into the protocol
    requests_in = requests_in or sys.stdin.buffer
    channel = _Channel(answers_fd)
    todo: queue.Queue[tuple[bool, list[dict[str, Any]]]] = queue.Queue()  # (a batch?, its requests)
    lock = threading.Lock()
    dropped: set[int] = set()
    running: dict[Any, threading.Event] = {}  # by request id, as the parent sent it

    def read_requests() -> None:
        for line in requests_in:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("op") == "generate":
                todo.put((False, [message]))
            elif message.get("op") == "generate_batch" and message.get("requests"):
                todo.put((True, list(message["requests"])))
            elif message.get("op") == "cancel":
                with lock:
                    dropped.add(message.get("id"))
                    if message.get("id") in running:
                        running[message.get("id")].set()
        os._exit(0)  # orps is gone (or closed our stdin): nobody will read an answer

    def watch_parent() -> None:
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=read_requests, name="requests", daemon=True).start()
    threading.Thread(target=watch_parent, name="parent", daemon=True).start()
    connect = getattr(backend, "connect", None)
    if connect is not None:
        connect(
            notice=lambda text: channel.send(event="notice", text=text),
            heartbeat=lambda: channel.send(event="alive"),
        )
    channel.send(event="ready", pid=os.getpid(), info=backend.info())
    while True:
        batched, requests = todo.get()
        with lock:
            for request in [r for r in requests if r.get("id") in dropped]:
                dropped.discard(request.get("id"))
                channel.send(event="cancelled", id=request.get("id"))
            requests = [r for r in requests if r.get("id") not in dropped]
            stops = [threading.Event() for _ in requests]
            running.update((r.get("id"), stop) for r, stop in zip(requests, stops))
        if not requests:
            continue
        ids = [r.get("id") for r in requests]
        for rid in ids:
            channel.send(event="started", id=rid)
        last = [time.monotonic()]

        def on_token(n: int, ids: list[Any] = ids, last: list[float] = last) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_S:
                last[0] = now
                for rid in ids:
                    channel.send(event="progress", id=rid, tokens=n)

        started = time.perf_counter()
        answered: set[int] = set()
        finished = [0]

        def answer(i: int, out: dict[str, Any], load_s: float | None = None, batched: bool = batched) -> None:
            """Request i's answer, sent as soon as it is known. Within a batch each done answer
            says where it came among them (`order`: 0 for the first to end), the same on every
            run of the same batch; orps accepts a round's answers in that order."""
            if i in answered:
                return
            answered.add(i)
            if stops[i].is_set():
                channel.send(event="cancelled", id=ids[i])  # stopped early: a cut answer is not an answer
                return
            order = {"order": finished[0]} if batched else {}
            finished[0] += 1
            if load_s is None:  # answered during the generation: the backend says whether it loaded
                load_s = getattr(backend, "load_s", None)
            gen_s = time.perf_counter() - started - (load_s or 0.0)
            channel.send(event="done", id=ids[i], result=out, load_s=load_s, gen_s=gen_s, **order)

        try:
            outs, load_s = _generate_all(backend, requests, stops, on_token, answer)
        except Unavailable as err:
            for i, rid in enumerate(ids):
                if i not in answered:
                    channel.send(event="error", id=rid, kind="unavailable", error=str(err))
        except Exception as err:  # noqa: BLE001 - one request failed; the process serves the next
            for i, rid in enumerate(ids):
                if i not in answered:
                    channel.send(event="error", id=rid, kind="other", error=f"{type(err).__name__}: {err}")
        else:
            for i, out in enumerate(outs):
                answer(i, out, load_s)
        with lock:
            for rid in ids:
                running.pop(rid, None)
                dropped.discard(rid)


def _generate_all(
    backend: Backend,
    requests: list[dict[str, Any]],
    stops: list[threading.Event],
    on_token: Callable[[int], None],
    on_finish: Callable[[int, dict[str, Any]], None],
) -> tuple[list[dict[str, Any]], float | None]:
    """One request as before; several in one batch when the backend can, else in turn."""
    if len(requests) == 1:
        out, load_s = backend.generate(requests[0], stops[0].is_set, on_token)
        return [out], load_s
    if hasattr(backend, "generate_batch"):
        return backend.generate_batch(requests, lambda i: stops[i].is_set(), on_token, on_finish)
    outs, first_load = [], None
    for i, (request, stop) in enumerate(zip(requests, stops)):
        out, load_s = backend.generate(request, stop.is_set, on_token)
        outs.append(out)
        first_load = first_load if first_load is not None else load_s
        on_finish(i, out)
    return outs, first_load


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="model_worker", description=__doc__.splitlines()[0])
    ap.add_argument("model_path")
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=max(1, len(os.sched_getaffinity(0))))
    ap.add_argument(
        "--extra-buffer-types",
        action="store_true",
        help="load with llama.cpp's extra buffer types (AMX, repacking): only to measure them",
    )
    ap.add_argument(
        "--q8-copy-dir",
        help="load a Q8_0 copy of the model kept in this directory, made at the first load "
        "(search.providers.q8_copy); the original when no copy can be made",
    )
    args = ap.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is orps's to handle: it cancels or kills us
    serve(LlamaBackend(args.model_path, args.ctx, args.threads, args.extra_buffer_types, args.q8_copy_dir))


if __name__ == "__main__":
    main()
