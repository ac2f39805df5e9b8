"""Helpers shared by the tests (no tests here): run the CLI in a subprocess, and wait for a
background event (a condition, a line of output) with a deadline instead of a fixed sleep.

A fixed sleep is both slow on an idle machine and flaky on a loaded one; these return as
soon as the event happens and fail with what was seen when it does not happen in time.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
"""The repository (what the CLI subprocesses need on PYTHONPATH)."""


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for `python -m orps_tui.cli ...` in a subprocess."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def wait_until(predicate: Callable[[], object], timeout: float, what: str = "the condition",
               interval: float = 0.02):
    """Poll `predicate()` until it is truthy (and return it); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)


async def until(predicate: Callable[[], object], timeout: float = 10, what: str = "the condition"):
    """`wait_until` for a test on the event loop: let other tasks run until `predicate()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.005)
    return value


class Lines:
    """Reads a text pipe (a subprocess's stdout or stderr) on a thread, so that a wait for a
    line has a real deadline even when the process goes silent."""

    def __init__(self, stream: IO[str]):
        self.seen: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)  # end of output

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """Read on until a line contains `text`; return all output read so far."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                self._queue.put(None)  # stay at the end for the next wait
                raise AssertionError(f"{text!r} never appeared before the output ended:\n{self.text}")
            if not line:
                raise AssertionError(f"{text!r} did not appear within {timeout} s:\n{self.text}")
            self.seen.append(line)
            if text in line:
                return self.text

    def rest(self, timeout: float = 60) -> str:
        """Everything up to the end of the output (call once the process is ending)."""
        deadline = time.monotonic() + timeout
        while (line := self._queue.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            self.seen.append(line)
        self._queue.put(None)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.seen)
