"""Helpers shared by the tests (no tests here): run the CLI in a subprocess, wait for a
background event (a condition, a line of output) with a deadline instead of a fixed sleep,
a project committed to git, a scripted model answering by function name, and the processes
a run leaves (found through /proc).

A fixed sleep is both slow on an idle machine and flaky on a loaded one; these return as
soon as the event happens and fail with what was seen when it does not happen in time.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import subprocess
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


def wait_until(predicate: Callable[[], object], timeout: float, what: str = "the condition", interval: float = 0.02):
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


def git(repo: Path, *args: str) -> str:
    """`git ARGS` in `repo` as a throwaway identity; its output (fails the test on an error)."""
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def git_project(source: Path, dest: Path) -> Path:
    """A copy of `source` at `dest`, all of it committed to a new git repository."""
    shutil.copytree(source, dest)
    git(dest, "init", "-q")
    git(dest, "add", ".")
    git(dest, "commit", "-qm", "init")
    return dest


def answering_by_name(answers: dict[str, str], review: str, unknown: str = "I do not know."):
    """A scripted model's `respond`: the reviewer always gets `review`; the programmer gets
    the answer of the first function in `answers` whose name its prompt shows in backticks."""

    def respond(messages, params):
        if "reviewer" in messages[0]["content"]:
            return review
        user = messages[-1]["content"]
        for name, answer in answers.items():
            if f"`{name}`" in user:
                return answer
        return unknown

    return respond


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def processes_of(project: Path) -> list[str]:
    """Command lines of live processes that mention the project (the run's sandbox, pytest, ...)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(project) in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def sandboxes_under(root_pid: int) -> set[int]:
    """The live processes descending from `root_pid` that carry the sandbox's marker variable
    (a run's bwrap, pytest and whatever the tests start)."""
    from runners.sandbox.procs import MARKER_ENV

    parent = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent[int(pid)] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found = set()
    for pid in parent:
        ancestor = parent.get(pid)
        while ancestor and ancestor != root_pid:
            ancestor = parent.get(ancestor)
        if ancestor == root_pid and alive(pid):
            try:
                if f"{MARKER_ENV}=".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                    found.add(pid)
            except OSError:
                continue
    return found
