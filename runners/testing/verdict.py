"""The verdict of one test run, from what our plugin recorded inside the sandbox.

`Channel` is the parent's side of the plugin's channel: a key pipe (the key the records are
signed with, which the candidate never sees) and a result pipe, read with a cap. `judge`
turns the verified records into an `Evaluation`: a test passed only if it positively
reported so, pytest collected exactly the expected tests, and the session finished with
pytest's internals untouched; per-test outcomes equal plain pytest's, and the verdict and its
counts agree. The messages a user sees for a run that did not start or a module that does not
import are made here too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from runners.project import env as projectenv
from runners.sandbox.caps import SandboxResult
from runners.testing.metrics import dynamic_metrics
from search.redact import mask_secrets
from search.types import Evaluation, TestResult, Verdict

KEY_FD_ENV, RESULT_FD_ENV, KEY_BYTES = "ORPS_KEY_FD", "ORPS_RESULT_FD", 32
"""The plugin's names for its pipes and its key's size (runners/testing/pytest_plugin.py, checked equal
by a test): that module runs inside the sandbox and imports pytest, which importing it here
would load into orps's own process (a quarter of a second of every `orps check`'s start-up)."""
OUTPUT_SHOWN = 2000
RESULT_CAP = 16 << 20


class Channel:
    """The key pipe and the result pipe shared with our plugin inside the sandbox."""

    def __init__(
        self,
        conftests: Sequence[str] = (),
        *,
        candidate_files: Sequence[str] = (),
        candidate_lines: dict[str, list[list[int]]] | None = None,
        test_files: Sequence[str] = (),
        target_file: str = "",
        target_name: str = "",
        trusted_bytecode: dict[str, str] | None = None,
    ):
        self.key = secrets.token_bytes(KEY_BYTES)
        self.key_r, key_w = os.pipe()
        # What the plugin needs to tell the candidate's acts from the harness's: whose code
        # it is (candidate files), what it must not read (test files), what to probe (target).
        info = {
            "conftests": list(conftests),
            "candidate_files": list(candidate_files),
            "candidate_lines": dict(candidate_lines or {}),
            "test_files": list(test_files),
            "target_file": target_file,
            "target_name": target_name,
            "trusted_bytecode": dict(trusted_bytecode or {}),
        }
        payload = self.key + json.dumps(info).encode()
        if len(payload) > 60000:  # more than a pipe buffer would block us here
            payload = (
                self.key + json.dumps({**info, "conftests": [], "test_files": [], "trusted_bytecode": {}}).encode()
            )
        os.write(key_w, payload)
        os.close(key_w)  # the plugin reads to EOF, then closes its end: nobody can read it again
        self.result_r, self.result_w = os.pipe()
        os.set_blocking(self.result_r, False)
        self.buffer = bytearray()
        self.on_done: Callable[[], object] | None = None
        """Called once nothing more is to be read: every writer is gone (end of file), or the
        records passed RESULT_CAP. The caller stops watching the fd: a pipe at its end stays
        readable and would wake the loop again and again until the sandbox is reaped."""

    @property
    def env(self) -> dict[str, str]:
        return {KEY_FD_ENV: str(self.key_r), RESULT_FD_ENV: str(self.result_w)}

    @property
    def fds(self) -> tuple[int, int]:
        return (self.key_r, self.result_w)

    def after_start(self) -> None:
        self._close("key_r", "result_w")  # else we would never see EOF on the result pipe

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
        while self.result_r >= 0 and len(self.buffer) <= RESULT_CAP:
            try:
                chunk = os.read(self.result_r, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self._done()
                return
            self.buffer += chunk
        if self.result_r >= 0 and len(self.buffer) > RESULT_CAP:
            # Flooded: stop listening and close our end (the writer gets EPIPE and the run
            # ends as flooded).
            self._done()
            self._close("result_r")

    def _done(self) -> None:
        done, self.on_done = self.on_done, None
        if done is not None:
            done()

    def close(self) -> None:
        self._close("key_r", "result_w", "result_r")

    def records(self) -> tuple[list[dict], list[str]]:
        """Verified records in order, and what was wrong with the rest."""
        records: list[dict] = []
        problems: list[str] = []
        if len(self.buffer) > RESULT_CAP:
            problems.append("the result channel was flooded")
        for n, line in enumerate(bytes(self.buffer).decode(errors="replace").splitlines()):
            body, _, mac = line.rpartition("\t")
            expected = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac.encode(), expected.encode()):
                problems.append(f"result line {n} has a bad signature")
                continue
            record = json.loads(body)
            if record.get("seq") != len(records):
                problems.append(f"result line {n} is out of sequence (a forked or replayed writer)")
                continue
            records.append(record)
            if record.get("type") == "tampered":
                problems.append(record.get("reason", "tampering"))
        return records, problems


def judge(records: list[dict], problems: list[str], expected: list[str], run: SandboxResult) -> Evaluation:
    """Turn the plugin's verified records into an Evaluation."""
    by_id: dict[str, TestResult] = {}
    messages = []
    finish = next((r for r in records if r["type"] == "finish"), None)
    collected = next((r for r in records if r["type"] == "collected"), None)
    broken_candidate = None
    failed_calls: set[str] = set()
    for r in records:
        if r["type"] == "collect_error" and r.get("candidate_error"):
            # The candidate's module does not import: its error, with its line, never a
            # broken test file (said once, however many test files import it).
            broken_candidate = broken_candidate or candidate_import_message(r["candidate_error"])
        elif r["type"] == "collect_error":
            messages.append(collection_error_message(r))
        elif r["type"] == "report":
            # Passed only on a positive report from the call phase (EvalPlus's rule).
            result = by_id.setdefault(r["nodeid"], TestResult(r["nodeid"], "failed", "the test did not finish"))
            if r["when"] == "call":
                # Our own clocks' figure when there is one: the larger of elapsed and CPU time,
                # so neither a frozen clock nor sleeping work looks fast (pytest's own duration
                # uses a clock the tests can patch).
                result.duration_s = max(r["clock_s"], r["cpu_s"]) if "clock_s" in r else r["duration"]
                # A test can report its call phase more than once: each subtest (unittest's
                # subTest, pytest's subtests) reports, then the test itself, which pytest 9
                # reports passed after a failed unittest subTest. As pytest counts it, one
                # failure fails the test: a later pass never clears it.
                if r["nodeid"] not in failed_calls:
                    result.outcome, result.message = r["outcome"], r["message"]
                if r["outcome"] == "failed":
                    failed_calls.add(r["nodeid"])
                if r.get("xfail") and r["outcome"] == "skipped":  # failed as the test's xfail mark expects
                    result.outcome = "xfailed"
            elif r["outcome"] == "failed":
                result.outcome, result.message = "error", f"{r['when']} failed: {r['message']}"
            elif r["outcome"] == "skipped":
                result.outcome, result.message = "skipped", r["message"]
    if broken_candidate:
        messages.insert(0, broken_candidate)
    tests = []
    for node_id in expected:
        reported = by_id.get(node_id) or _match(by_id, node_id)
        tests.append(
            reported
            or TestResult(
                node_id,
                "error" if broken_candidate else "failed",
                broken_candidate.splitlines()[0] if broken_candidate else "this test never reported a result",
            )
        )
    suspicious = suspicions(records)
    for nodeid, reasons in suspicions(records, per_test=True).items():
        reported = by_id.get(nodeid) or _match(by_id, nodeid)
        if reported is not None:
            reported.outcome, reported.message = "suspicious", "; ".join(reasons)
    # As pytest counts: a skipped test (by a mark, a decorator, the test itself) and an
    # expected failure (xfail) are neither passed nor failed; the others must pass.
    counted = [t for t in tests if t.outcome not in NOT_COUNTED]
    passed = sum(t.outcome == "passed" for t in counted)
    runtime = (
        sum(t.duration_s for t in counted)
        if passed == len(counted) and counted
        else (sum(t.duration_s for t in counted if t.outcome == "passed") or None)
    )
    if runtime is not None and runtime > run.wall_s + 0.05:  # the run's own clock, outside the process
        messages.append(f"runtime not trusted: the tests claim {runtime:.3f} s in a run of {run.wall_s:.3f} s")
        runtime = None
    tampered = list(problems) + (finish.get("tampered", []) if finish else [])
    count_ok = collected is not None and collected["count"] == len(expected)
    verdict: Verdict
    if tampered:
        verdict = "tampered"
    elif run.timed_out:
        verdict = "timeout"
    elif finish is None:
        verdict = "crashed"  # the process ended before pytest finished: os._exit, a signal, a kill
    elif suspicious:
        verdict = "suspicious"  # passed or not: the candidate was caught cheating (reason below)
    elif passed == len(counted) and counted and count_ok:
        verdict = "passed"
    else:
        verdict = "failed"
    if finish is not None and tests and not counted and count_ok:
        messages.append(f"every selected test was skipped ({len(tests)}): nothing was checked")
    if run.timed_out:
        messages.append(f"the test run was stopped at the time limit ({run.wall_s:.1f} s)")
    if getattr(run, "write_exceeded", ""):
        messages.insert(0, f"the test run was stopped: {run.write_exceeded} (a flood; nothing of it was kept)")
    if tampered:
        messages.append("tampering detected: " + "; ".join(dict.fromkeys(tampered)))
    if suspicious and not tampered:
        messages.append("suspicious: not counted as passing, because " + "; ".join(suspicious))
    if finish is None and not run.timed_out:
        messages.append(
            _early_end(run.returncode)
            if collected or run.returncode not in (3, 4)
            else did_not_start(run.stdout + run.stderr, run.returncode)
        )
        if not records:  # nothing of pytest ran (no candidate code either): say what stopped it
            said = [line.strip() for line in run.stderr.splitlines() if line.startswith("bwrap:")]
            if said:
                messages.append(f"the sandbox could not start: {said[-1][:300]}")
    if finish is not None and not count_ok and not messages:
        got = collected["count"] if collected else 0
        messages.append(f"pytest collected {got} tests, expected {len(expected)}")
        # pytest's own reason (e.g. "ERROR: not found: ...::test_x") is on its output.
        messages += [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("ERROR:")][:5]
    if run.truncated:
        messages.append("output was cut at the size limit")
    dyn = dynamic_metrics(finish)
    return Evaluation(
        verdict=verdict,
        passed=0 if verdict in ("tampered", "suspicious") else passed,
        total=len(counted) if count_ok else len(expected),
        tests=tests,
        runtime_s=runtime,
        wall_s=run.wall_s,
        cpu_s=dyn["cpu_s"],
        peak_rss_mb=dyn["peak_rss_mb"],
        isolation=run.isolation,
        message="\n".join(messages),
        output=(run.stdout + run.stderr)[-OUTPUT_SHOWN:],
    )


CANDIDATE_IMPORT_ERROR = "the code under test does not import:"


def candidate_import_message(error: dict) -> str:
    """`the code under test does not import: line 3 of src/pkg/mod.py: NameError: ...`, then
    the line itself."""
    line = f"{CANDIDATE_IMPORT_ERROR} line {error.get('line')} of {error.get('file', '?')}: {error.get('error', '')}"
    return line + (f"\n    {error['source']}" if error.get("source") else "")


NOT_COUNTED = ("skipped", "xfailed")
"""Test outcomes that count neither as passed nor as failed (as in pytest's own summary)."""


def collection_error_message(record: dict) -> str:
    """`collection error in FILE: <the error>` on the first line (the one a summary shows),
    pytest's report after it. The error is pytest's last `E ` line: the exception raised
    while importing the test file."""
    where = record.get("nodeid") or "the test files"
    detail = record.get("message", "").strip()
    errors = [line[1:].strip() for line in detail.splitlines() if line.startswith("E ")]
    headline = errors[-1] if errors else (detail.splitlines() or ["(no message)"])[0]
    return f"collection error in {where}: {headline}\n{detail}"


NOT_INSTALLED = "not installed in"
_MISSING = re.compile(
    r"^((?:collection error in \S+: |the code under test does not import: .*?: )(?:E\s+)?)"
    r"ModuleNotFoundError: No module named '([\w.]+)'\s*$",
    re.M,
)


def name_missing_modules(message: str, env: projectenv.Resolved, project: Path) -> str:
    """A test file that imports a module the interpreter lacks is not a broken test file:
    its headline says `No module named 'x': not installed in <interpreter> (<why that one>)`,
    unless x is the project's own module (then it is the project's problem, said as is)."""

    def name(match: re.Match) -> str:
        top = match.group(2).split(".")[0]
        if any((project / where / f"{top}{suffix}").exists() for where in ("", "src") for suffix in ("", ".py")):
            return match.group(0)
        return (
            f"{match.group(1)}ModuleNotFoundError: No module named '{match.group(2)}': {NOT_INSTALLED} {env.chosen.path} "
            f"({env.chosen.reason})"
        )

    return _MISSING.sub(name, message or "")


def masked(ev: Evaluation) -> Evaluation:
    """Key-shaped text masked in everything an Evaluation says (it goes to models)."""
    ev.message, ev.output = mask_secrets(ev.message), mask_secrets(ev.output)
    for test in ev.tests:
        test.message = mask_secrets(test.message)
    return ev


def suspicions(records: list[dict], per_test: bool = False):
    """The distinct reasons the plugin gave for calling the run suspicious (a pass obtained
    the wrong way), in order; with `per_test`, grouped by the test that was running
    (reasons raised outside any test, e.g. at import, belong to none)."""
    if not per_test:
        return list(dict.fromkeys(r["reason"] for r in records if r["type"] == "suspicious"))
    grouped: dict[str, list[str]] = {}
    for r in records:
        if r["type"] == "suspicious" and r.get("nodeid"):
            grouped.setdefault(r["nodeid"], [])
            if r["reason"] not in grouped[r["nodeid"]]:
                grouped[r["nodeid"]].append(r["reason"])
    return grouped


PYTEST_DID_NOT_START = "pytest stopped before collecting any test"
ENV_UNUSABLE = "the tests cannot run in this environment:"
"""The start of an Evaluation's message when the project's interpreter cannot run pytest
(no pytest there, too old a pytest, no interpreter): the second line says how to fix it."""


def did_not_start(output: str, returncode: int) -> str:
    """pytest's own reason when it ends at its configuration (exit 4: a usage error such as
    an unknown option or an unimportable warning category in the project's pytest settings;
    exit 3: an internal error): its `ERROR:` lines and the exception it ended on."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith("ERROR:")][:3]
    reasons += [line for line in lines if _EXCEPTION_LINE.match(line)][-1:]
    detail = "; ".join(dict.fromkeys(reasons)) or (lines[-1] if lines else "no output")
    return f"{PYTEST_DID_NOT_START} (exit code {returncode}): {detail}"


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b:")


def _early_end(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"the test process was killed by signal {-returncode} before pytest finished"
    if returncode is not None and returncode > 128:
        return (
            f"the test process died (exit code {returncode}, likely signal {returncode - 128}) before pytest finished"
        )
    return f"the test process ended early (exit code {returncode}) without finishing the session"


def _match(by_id: dict[str, TestResult], node_id: str) -> TestResult | None:
    """Node ids given relative to another rootdir still match by suffix."""
    hits = [r for k, r in by_id.items() if k.endswith("/" + node_id) or node_id.endswith("/" + k)]
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
