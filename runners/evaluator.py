"""`SandboxEvaluator`: run a candidate against a task's tests in the sandbox, honestly.

Dataset tasks (`kind="asserts"`): the candidate becomes `solution.py` and each assert a
pytest test. Project tasks: the candidate is spliced into a throwaway copy of the
project and the selected pytest node ids run. Either way pytest runs with our plugin,
whose signed records are the only evidence we accept (EvalPlus's rule): a test passed
only if it positively reported so, every expected test reported, and the session
finished with pytest's internals untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import sys
import textwrap
from pathlib import Path

from runners.metrics import static_metrics
from runners.sandbox import Limits, SandboxResult, run_sandboxed
from runners.workspace import Workspaces
from search.types import Evaluation, Task, TestResult

PLUGIN_DIR = Path(__file__).with_name("_plugin")
OUTPUT_SHOWN = 2000


def asserts_test_file(task: Task, tests: list[str]) -> str:
    """One pytest test per assert snippet, after the dataset's setup code."""
    parts = ["from solution import *  # noqa", task.test_setup or "", ""]
    for i, snippet in enumerate(tests):
        parts.append(f"def test_{i}():\n" + textwrap.indent(snippet.strip() or "pass", "    ") + "\n")
    return "\n".join(parts)


class Channel:
    """The key pipe and result pipe shared with our plugin inside the sandbox."""

    def __init__(self):
        self.key = secrets.token_bytes(32)
        self.key_r, key_w = os.pipe()
        os.write(key_w, self.key)
        os.close(key_w)
        self.result_r, self.result_w = os.pipe()
        os.set_blocking(self.result_r, False)
        self.buffer = bytearray()

    @property
    def env(self) -> dict[str, str]:
        return {"ORPS_KEY_FD": str(self.key_r), "ORPS_RESULT_FD": str(self.result_w)}

    @property
    def fds(self) -> tuple[int, int]:
        return (self.key_r, self.result_w)

    def after_start(self) -> None:
        self._close("key_r", "result_w")

    def _close(self, *names: str) -> None:
        # Mark closed fds as -1: closing a number twice could close another run's pipe.
        for name in names:
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)

    def drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.result_r, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            self.buffer += chunk
            if len(self.buffer) > 16 << 20:
                return  # a flood of fake lines: what we have is enough to call it tampered

    def close(self) -> None:
        self._close("key_r", "result_w", "result_r")

    def records(self) -> tuple[list[dict], list[str]]:
        """Verified records in order, and what was wrong with the rest."""
        records, problems = [], []
        for n, line in enumerate(bytes(self.buffer).decode(errors="replace").splitlines()):
            body, _, mac = line.rpartition("\t")
            expected = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac, expected):
                problems.append(f"result line {n} has a bad signature")
                continue
            record = json.loads(body)
            if record.get("seq") != len(records):
                problems.append(f"result line {n} is out of sequence")
                continue
            records.append(record)
        return records, problems


def judge(records: list[dict], problems: list[str], expected: list[str], run: SandboxResult) -> Evaluation:
    """Turn the plugin's verified records into an Evaluation (never trusting the exit code)."""
    by_id: dict[str, TestResult] = {}
    messages = []
    finish = next((r for r in records if r["type"] == "finish"), None)
    for r in records:
        if r["type"] == "collect_error":
            messages.append(f"collection error in {r['nodeid'] or 'the test files'}:\n{r['message']}")
        elif r["type"] == "report":
            # Passed only on a positive report from the call phase (EvalPlus's rule).
            result = by_id.setdefault(r["nodeid"], TestResult(r["nodeid"], "failed", "the test did not finish"))
            if r["when"] == "call":
                result.duration_s = r["duration"]
                result.outcome, result.message = r["outcome"], r["message"]
            elif r["outcome"] == "failed":
                result.outcome, result.message = "error", f"{r['when']} failed: {r['message']}"
            elif r["outcome"] == "skipped":
                result.outcome, result.message = "skipped", r["message"]
    tests = []
    for node_id in expected:
        result = by_id.get(node_id) or _match(by_id, node_id)
        tests.append(result or TestResult(node_id, "failed", "this test never reported a result"))
    passed = sum(t.outcome == "passed" for t in tests)
    runtime = sum(t.duration_s for t in tests if t.outcome == "passed") if passed else None
    tampered = list(problems) + (finish.get("tampered", []) if finish else [])
    unexpected = [i for i in by_id if i not in {t.id for t in tests}]
    if run.timed_out:
        verdict = "timeout"
    elif tampered:
        verdict = "tampered"
    elif finish is None:
        verdict = "crashed"  # the process ended before pytest finished: os._exit, a signal, a kill
    elif passed == len(expected) and expected and not unexpected:
        verdict = "passed"
    else:
        verdict = "failed"
    if run.timed_out:
        messages.append("the test run was stopped at the time limit")
    if tampered:
        messages.append("tampering detected: " + "; ".join(tampered))
    if finish is None and not run.timed_out:
        messages.append(f"the test process ended early (exit code {run.returncode}) without finishing the session")
    if verdict == "passed" and passed != len(tests):
        verdict = "failed"
    return Evaluation(
        verdict=verdict,
        passed=passed if verdict not in ("tampered",) else 0,
        total=len(expected),
        tests=tests,
        runtime_s=runtime,
        wall_s=run.wall_s,
        cpu_s=finish.get("cpu_s") if finish else None,
        peak_rss_mb=round(finish["maxrss_kb"] / 1024, 1) if finish else None,
        isolation=run.isolation,
        message="\n".join(messages),
        output=(run.stdout + run.stderr)[-OUTPUT_SHOWN:],
    )


def _match(by_id: dict[str, TestResult], node_id: str) -> TestResult | None:
    """Node ids given relative to another rootdir still match by suffix."""
    hits = [r for k, r in by_id.items() if k.endswith(node_id) or node_id.endswith(k)]
    return hits[0] if len(hits) == 1 else None


def _covers(given: str, collected: str) -> bool:
    return collected == given or collected.startswith((given + "[", given + "::", given.rstrip("/") + "/"))


def expected_ids(given: list[str], records: list[dict]) -> list[str]:
    """The tests that must pass: what pytest collected for the ids we gave (a file or a
    parametrized function stands for every test in it), as long as each given id was
    collected; otherwise the given ids, so that the missing ones count as failed."""
    collected = next((r["ids"] for r in records if r["type"] == "collected"), None)
    if not collected or not all(any(_covers(g, c) for c in collected) for g in given):
        return list(given)
    return [c for c in collected if any(_covers(g, c) for g in given)]


class SandboxEvaluator:
    """Evaluates candidates in parallel sandboxes (at most `workers` at once)."""

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 2048, workers: int | None = None,
                 python: str | None = None, max_procs: int = 64):
        self.limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_procs=max_procs)
        self.python = python or sys.executable
        self.workspaces = Workspaces()
        self._workers = workers or os.cpu_count() or 2
        self._semaphore: asyncio.Semaphore | None = None

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False) -> Evaluation:
        tests = task.hidden_tests if hidden else task.tests
        static = static_metrics(code)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._workers)
        try:
            workspace, node_ids = self.workspaces.prepare(task, code, tests, asserts_test_file)
        except ValueError as err:  # the candidate cannot even be put in place
            return Evaluation(verdict="error", total=len(tests), message=str(err), static=static)
        try:
            async with self._semaphore:
                ev = await self._run_pytest(workspace, node_ids, autoload=task.kind == "project")
        finally:
            self.workspaces.release(workspace)
        ev.static = static
        return ev

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        """The minimum call-phase runtime over `repeats` runs (None when a run fails)."""
        best = None
        for _ in range(repeats):
            ev = await self.evaluate(task, code)
            if not ev.all_passed or ev.runtime_s is None:
                return None
            best = ev.runtime_s if best is None else min(best, ev.runtime_s)
        return best

    async def _run_pytest(self, workspace: Path, node_ids: list[str], autoload: bool) -> Evaluation:
        channel = Channel()
        argv = [self.python, "-m", "pytest", "-p", "orps_pytest_plugin", "-p", "no:cacheprovider",
                "-q", "--no-header", "-rN", "-o", "addopts=", *node_ids]
        env = {**channel.env, "PYTHONPATH": str(PLUGIN_DIR)}
        if not autoload:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # dataset tests need no plugins: start faster
        loop = asyncio.get_running_loop()
        loop.add_reader(channel.result_r, channel.drain)
        try:
            run = await run_sandboxed(argv, workspace, self.limits, env=env, pass_fds=channel.fds,
                                      extra_ro=[PLUGIN_DIR], on_start=channel.after_start)
            channel.drain()
        finally:
            loop.remove_reader(channel.result_r)
            channel.close()
        records, problems = channel.records()
        return judge(records, problems, expected_ids(node_ids, records), run)
