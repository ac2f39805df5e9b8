"""Evaluations off the TUI's event loop: the sandbox on a loop of its own, in a thread.

`runners.testing.evaluator.SandboxEvaluator` is async, but parts of an evaluation block whoever
runs them: preparing the workspace walks and copies the project, reading the plugins'
metadata, polling the clean-up of the process group with `time.sleep`. On the TUI's event
loop every such step froze the screen that shows the search. `OffLoopEvaluator` runs the
evaluator's coroutines on one private event loop in a daemon thread (one per evaluator,
so the sandbox's semaphore and readers all live on that loop), and the TUI awaits the
results. Cancelling the awaiting task cancels the evaluation there and waits for its
clean-up, as awaiting the evaluator directly would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from search.types import Evaluation, Evaluator, Task

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str = "orps-evaluations"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    async def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Await the coroutine `make()` on the thread's loop from the caller's loop."""
        caller = asyncio.get_running_loop()
        outcome: asyncio.Future = caller.create_future()
        started: list[asyncio.Task] = []

        def settle(task: asyncio.Task) -> None:
            if outcome.done():
                return
            if task.cancelled():
                outcome.cancel()
            elif (error := task.exception()) is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(task.result())

        def relay(task: asyncio.Task) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
                caller.call_soon_threadsafe(settle, task)

        def begin() -> None:
            task = self.loop.create_task(make())
            started.append(task)
            task.add_done_callback(relay)

        self.loop.call_soon_threadsafe(begin)
        try:
            return await asyncio.shield(outcome)
        except asyncio.CancelledError:
            # `begin` was queued first, so `started` holds the task when this runs.
            self.loop.call_soon_threadsafe(lambda: started[0].cancel())
            with contextlib.suppress(BaseException):
                await outcome  # its clean-up (killing the sandbox, removing the copy) is done
            raise

    def call(self, fn: Callable[[], T]) -> T:
        """Run the plain function `fn` on the thread's loop and wait for it (from any thread
        but that one)."""

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


class OffLoopEvaluator:
    """An `Evaluator` whose evaluations run on a `LoopThread`.

    `make` builds the real evaluator; it is called on that thread at the first use (making
    a sandbox evaluator creates and fills a temp directory)."""

    def __init__(self, make: Callable[[], Evaluator]):
        self._make = make
        self._inner: Evaluator | None = None
        self._thread: LoopThread | None = None

    @classmethod
    def wrapping(cls, evaluator: Evaluator) -> OffLoopEvaluator:
        return cls(lambda: evaluator)

    def _loop(self) -> LoopThread:
        if self._thread is None:
            self._thread = LoopThread()
        return self._thread

    def _evaluator(self) -> Evaluator:
        if self._inner is None:
            self._inner = self._make()
        return self._inner

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False, **options: Any) -> Evaluation:
        return await self._loop().run(lambda: self._evaluator().evaluate(task, code, hidden=hidden, **options))

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        return await self._loop().run(lambda: self._evaluator().measure_runtime(task, code, repeats))

    def close(self) -> None:
        """Close the evaluator (its temp files) and stop the thread. Blocks: call it from a
        thread, or at exit."""
        if self._thread is None:
            return
        close = getattr(self._inner, "close", None)  # an evaluator may hold temp files
        if self._inner is not None and callable(close):
            self._thread.call(close)
        self._thread.stop()
        self._thread = None
