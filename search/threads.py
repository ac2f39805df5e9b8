"""Blocking calls awaited from a daemon thread of their own, not the loop's executor.

`asyncio.to_thread` runs a call in the loop's default executor, and `asyncio.run` (Textual's
`App.run` too) joins every executor thread before it returns. A blocking call that a cancel
cannot interrupt (llama.cpp evaluating a prompt, an import) then holds the whole process after
the user asked it to stop: `q` in the TUI after Ctrl+C waited 12.9 s for an embedded-model
prompt evaluation on a loaded machine. Here the awaiting task can be cancelled at once and
nothing waits for the thread at exit; the thread's late result is dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Callable


async def in_daemon_thread(fn: Callable[..., Any], *args: Any, name: str = "orps-call", **kwargs: Any) -> Any:
    """`await fn(*args, **kwargs)` run in a new daemon thread (with the caller's context
    variables, as `asyncio.to_thread` does). Cancelling the await abandons the thread."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any = None, error: BaseException | None = None) -> None:
        if not done.done():  # the caller may have been cancelled meanwhile
            done.set_exception(error) if error is not None else done.set_result(result)

    def work() -> None:
        try:
            result, error = context.run(fn, *args, **kwargs), None
        except BaseException as err:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, err
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop is closed: the caller is gone

    threading.Thread(target=work, name=name, daemon=True).start()
    return await done
