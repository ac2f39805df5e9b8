"""`SandboxEvaluator`: run a candidate against a task's tests in the sandbox, honestly.

Dataset tasks (`kind="asserts"`): the candidate becomes `solution.py` and each assert a
pytest test. Project tasks: the candidate is spliced into a throwaway copy of the
project and the selected pytest node ids run. Either way pytest runs with our plugin,
whose signed records are the only evidence we accept (EvalPlus's rule): a test passed
only if it positively reported so, pytest collected exactly the expected tests, and the
session finished with pytest's internals untouched. The exit code is never trusted.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import statistics
import sys
import textwrap
import weakref
from pathlib import Path

from runners.sandbox.cleanup import later
from runners.testing.metrics import dynamic_metrics, parse_perf, perf_available, perf_prefix, static_metrics
from runners.project import env as projectenv
from runners.sandbox.bwrap import scrubbed_env
from runners.sandbox.caps import Limits, SandboxResult
from runners.sandbox.run import run_sandboxed
from runners.testing.warm import WarmWorker
from runners.sandbox.workspace import BOOT_MODULE, PLUGIN_MODULE, PROTECTED, Prepared, Workspaces
from search.redact import mask_secrets
from search.types import Evaluation, Task, TestResult

KEY_FD_ENV, RESULT_FD_ENV, KEY_BYTES = "ORPS_KEY_FD", "ORPS_RESULT_FD", 32
"""The plugin's names for its pipes and its key's size (runners/testing/pytest_plugin.py, checked equal
by a test): that module runs inside the sandbox and imports pytest, which importing it here
would load into orps's own process (a quarter of a second of every `orps check`'s start-up)."""
OUTPUT_SHOWN = 2000
RESULT_CAP = 16 << 20
WARM_PRELOAD = ("pytest",)
"""What the warm worker imports once, with pytest's built-in plugins and the installed pytest
plugins the first project loads. The project's own modules (and any third-party module it
imports) are imported in each fork, as in a cold run."""
COLD_PLUGINS = ("xdist", "pytest_forked", "pytest_cov", "pytest_xprocess")
"""Plugins that want the process from its very start (coverage of every import, their own
worker processes): a project that loads one runs cold."""


def asserts_test_file(task: Task, tests: list[str]) -> str:
    """One pytest test per assert snippet, after the dataset's setup code."""
    parts = ["from solution import *  # noqa", task.test_setup or "", ""]
    for i, snippet in enumerate(tests):
        body = snippet.strip() or "pass"
        try:
            ast.parse(body)
        except SyntaxError as err:  # a broken dataset test fails alone, not the whole file
            body = f"raise AssertionError({'this test does not parse: ' + str(err)!r})"
        parts.append(f"def test_{i}():\n" + textwrap.indent(body, "    ") + "\n")
    return "\n".join(parts)


class Channel:
    """The key pipe and the result pipe shared with our plugin inside the sandbox."""

    def __init__(self, conftests: list[str] = (), *, candidate_files: list[str] = (), test_files: list[str] = (),
                 target_file: str = "", target_name: str = ""):
        self.key = secrets.token_bytes(KEY_BYTES)
        self.key_r, key_w = os.pipe()
        # What the plugin needs to tell the candidate's acts from the harness's: whose code
        # it is (candidate files), what it must not read (test files), what to probe (target).
        info = {"conftests": list(conftests), "candidate_files": list(candidate_files),
                "test_files": list(test_files), "target_file": target_file, "target_name": target_name}
        payload = self.key + json.dumps(info).encode()
        if len(payload) > 60000:  # more than a pipe buffer would block us here
            payload = self.key + json.dumps({**info, "conftests": [], "test_files": []}).encode()
        os.write(key_w, payload)
        os.close(key_w)  # the plugin reads to EOF, then closes its end: nobody can read it again
        self.result_r, self.result_w = os.pipe()
        os.set_blocking(self.result_r, False)
        self.buffer = bytearray()
        self.on_full = None
        """Called once when the records pass RESULT_CAP (the caller stops watching the fd)."""

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
                return
            self.buffer += chunk
        if self.result_r >= 0 and len(self.buffer) > RESULT_CAP:
            # Flooded: stop listening and close our end (the writer gets EPIPE and the run
            # ends as flooded). Left readable, the pipe would wake the loop again and again.
            if self.on_full is not None:
                self.on_full()
            self._close("result_r")

    def close(self) -> None:
        self._close("key_r", "result_w", "result_r")

    def records(self) -> tuple[list[dict], list[str]]:
        """Verified records in order, and what was wrong with the rest."""
        records, problems = [], []
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
        result = by_id.get(node_id) or _match(by_id, node_id)
        tests.append(result or TestResult(node_id, "error" if broken_candidate else "failed",
                                          broken_candidate.splitlines()[0] if broken_candidate
                                          else "this test never reported a result"))
    suspicious = suspicions(records)
    for nodeid, reasons in suspicions(records, per_test=True).items():
        result = by_id.get(nodeid) or _match(by_id, nodeid)
        if result is not None:
            result.outcome, result.message = "suspicious", "; ".join(reasons)
    # As pytest counts: a skipped test (by a mark, a decorator, the test itself) and an
    # expected failure (xfail) are neither passed nor failed; the others must pass.
    counted = [t for t in tests if t.outcome not in NOT_COUNTED]
    passed = sum(t.outcome == "passed" for t in counted)
    runtime = sum(t.duration_s for t in counted) if passed == len(counted) and counted else (
        sum(t.duration_s for t in counted if t.outcome == "passed") or None)
    if runtime is not None and runtime > run.wall_s + 0.05:  # the run's own clock, outside the process
        messages.append(f"runtime not trusted: the tests claim {runtime:.3f} s in a run of {run.wall_s:.3f} s")
        runtime = None
    tampered = list(problems) + (finish.get("tampered", []) if finish else [])
    count_ok = collected is not None and collected["count"] == len(expected)
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
        messages.append(_early_end(run.returncode) if collected or run.returncode not in (3, 4)
                        else did_not_start(run.stdout + run.stderr, run.returncode))
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
_MISSING = re.compile(r"^((?:collection error in \S+: |the code under test does not import: .*?: )(?:E\s+)?)"
                      r"ModuleNotFoundError: No module named '([\w.]+)'\s*$", re.M)


def name_missing_modules(message: str, env: projectenv.Resolved, project: Path) -> str:
    """A test file that imports a module the interpreter lacks is not a broken test file:
    its headline says `No module named 'x': not installed in <interpreter> (<why that one>)`,
    unless x is the project's own module (then it is the project's problem, said as is)."""
    def name(match: re.Match) -> str:
        top = match.group(2).split(".")[0]
        if any((project / where / f"{top}{suffix}").exists() for where in ("", "src") for suffix in ("", ".py")):
            return match.group(0)
        return (f"{match.group(1)}ModuleNotFoundError: No module named '{match.group(2)}': {NOT_INSTALLED} {env.chosen.path} "
                f"({env.chosen.reason})")
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
        return f"the test process died (exit code {returncode}, likely signal {returncode - 128}) before pytest finished"
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


def protected_project_paths(workspace: Path, node_ids: list[str], conftests: list[str]) -> list[Path]:
    """The test files named by `node_ids`, every conftest, and an (empty) `__pycache__` beside
    each of them: what must stay read-only in a copy-on-write project workspace."""
    files = {Path(c) for c in conftests}
    for node_id in node_ids:
        path = (workspace / node_id.split("::", 1)[0]).resolve()
        if path.is_file() and workspace.resolve() in path.parents:
            files.add(path)
        elif path.is_dir() and workspace.resolve() in (path, *path.parents):
            files.update(path.rglob("test_*.py"))
            files.update(path.rglob("*_test.py"))
    protected: list[Path] = []
    for path in sorted(files):
        cache_dir = path.parent / "__pycache__"
        cache_dir.mkdir(exist_ok=True)  # in our hard-linked copy, never the user's project
        protected += [path, cache_dir]
    return sorted(set(protected))


@functools.cache
def _pytest_entry_points() -> tuple[tuple[str, str], ...]:
    """(name, module) of every installed pytest plugin: read once, as scanning every
    distribution's metadata costs 0.1 s or more per evaluation."""
    from importlib.metadata import entry_points

    return tuple((ep.name, ep.value.split(":")[0]) for ep in entry_points(group="pytest11"))


def project_plugins(workspace: Path, files: list[Path] | None = None,
                    entry_points: tuple[tuple[str, str], ...] | None = None) -> list[str]:
    """Installed pytest plugins (entry points) that the project's config, conftest or test
    files mention by name or module, plus pytest-asyncio when tests are `async def`.
    `files` (default: found by globbing `workspace`) are the files to read; `entry_points`
    (default: orps's own interpreter's) the plugins installed where the tests run."""
    if files is None:
        files = [path for pattern in ("pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "**/conftest.py",
                                      "**/test_*.py", "**/*_test.py") for path in workspace.glob(pattern)]
    texts = []
    for path in files:
        try:
            texts.append(path.read_text(errors="replace")[:200_000])
        except OSError:
            pass
    text = "\n".join(texts)
    wanted = []
    for name, module in (_pytest_entry_points() if entry_points is None else entry_points):
        top = module.split(".")[0]
        uses = name in text or top in text
        if name == "asyncio" and ("async def test" in text or "mark.asyncio" in text):
            uses = True
        if uses and module not in wanted:
            wanted.append(module)
    return wanted


ADDOPTS_FLAGS = frozenset({"--strict-markers", "--strict-config", "--strict", "--runxfail", "--doctest-modules",
                           "--reuse-db", "--create-db", "--nomigrations", "--no-migrations"})
ADDOPTS_VALUES = frozenset({"-p", "-W", "--pythonwarnings", "--import-mode", "--asyncio-mode", "--ds", "--dc",
                            "--timeout", "--hypothesis-profile", "--hypothesis-seed", "--doctest-glob"})
"""The project's `addopts` that decide *what* its tests do (how modules are imported, which
marks are allowed, which warnings are errors, plugin modes): kept, so verdicts match plain
pytest's. The rest (workers, coverage, reports, output, -x, -k/-m, paths) would change how
the run is recorded or which tests run, and is dropped."""


def _ini_addopts(root: Path) -> str:
    """The addopts of the config file pytest would read in `root` (its own order)."""
    import configparser

    for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest"), ("pyproject.toml", None),
                          ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = root / name
        if not path.is_file():
            continue
        if section is None:
            from runners.project.files import pyproject_tool

            table = pyproject_tool(root, "pytest", "ini_options")
            if not table:
                continue
            value = table.get("addopts", "")
            return " ".join(value) if isinstance(value, list) else str(value)
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_section(section) or name.endswith("pytest.ini"):
            return parser.get(section, "addopts", fallback="") if parser.has_section(section) else ""
    return ""


def kept_addopts(root: Path) -> str:
    """The project's addopts that orps keeps (`ADDOPTS_FLAGS`, `ADDOPTS_VALUES`), as one string."""
    import shlex

    try:
        tokens = shlex.split(_ini_addopts(root))
    except ValueError:
        return ""
    kept, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
        if token in ADDOPTS_FLAGS or (name in ADDOPTS_VALUES and "=" in token):
            kept.append(token)
        elif token in ADDOPTS_VALUES and i + 1 < len(tokens):
            if not (token == "-p" and tokens[i + 1] in ("cacheprovider", "no:" + PLUGIN_MODULE)):
                kept += [token, tokens[i + 1]]
            i += 1
        elif token[:2] in ("-p", "-W") and len(token) > 2 and not token.startswith("--"):
            kept.append(token)
        i += 1
    return shlex.join(kept)


def is_test_file(rel: str) -> bool:
    """A file pytest would collect or configure itself from: tests, conftests, test dirs."""
    parts = Path(rel).parts
    name = parts[-1] if parts else ""
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(p in ("tests", "test", "testing") for p in parts[:-1]))


def _non_test(files: dict[str, str]) -> list[str]:
    return [rel for rel in files if not is_test_file(rel)]


def _replace_files(prepared: Prepared, files: dict[str, str]) -> None:
    """Whole files replaced in a prepared project workspace (a patch's result): bound over
    the copy-on-write view (after the snapshot's read-only binds, so a patched test wins),
    or written into a real copy (a new file, never a write through a hard link)."""
    for n, (rel, text) in enumerate(sorted(files.items())):
        if prepared.lower is not None:
            replaced = prepared.path.with_name(f"{prepared.path.name}-file{n}{Path(rel).suffix}")
            replaced.write_text(text)
            prepared.extra.append(replaced)
            prepared.mounts.append((replaced, prepared.path / rel))
        else:
            path = prepared.path / rel
            path.unlink(missing_ok=True)
            path.write_text(text)


def trust_info(task: Task, workspace: Path, node_ids: list[str], changed: list[str] = ()) -> dict:
    """What the plugin needs to judge the candidate's behaviour: which files are the
    candidate's (the target's file, or every non-test file a patch changed), the test files
    it must not read, and the target to probe."""
    if task.kind == "asserts":
        path, name = "solution.py", task.entry_point
    else:
        path, _, name = task.target.partition("::")
    tests = sorted({str(workspace / n.split("::", 1)[0]) for n in node_ids})
    return {"candidate_files": [str(workspace / p) for p in dict.fromkeys([path, *changed]) if p],
            "test_files": tests, "target_file": str(workspace / path) if path else "", "target_name": name}


def interpreter_view(env: projectenv.Resolved) -> list[Path]:
    """What the sandbox shows of the interpreter running the tests: its virtualenv (where it
    is, even inside the project: bound read-only, never copied), its prefixes, stdlib and
    site-packages. Not the directories its `.pth` files or a PYTHONPATH add (editable
    installs): the project's own are its copy, others go in `sandbox_read`."""
    exe = Path(env.chosen.path)
    paths = [Path(p) for p in (*env.info.prefixes, *env.info.site_dirs)]
    if (exe.parent.parent / "pyvenv.cfg").is_file():
        paths.append(exe.parent.parent)
    return paths


class SandboxEvaluator:
    """Evaluates candidates in parallel sandboxes (at most `workers` at once; default: cores).

    Implements `search.types.Evaluator`. Call `close()` (or use `async with`) to remove
    its temp directory early; it is removed at garbage collection otherwise.
    """

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 2048, workers: int | None = None,
                 python: str | None = None, max_procs: int = 64, max_file_mb: int = 64,
                 read_paths: list[str | Path] = (), warm: bool = True):
        self.limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_procs=max_procs, max_file_mb=max_file_mb)
        self.python = python
        """The interpreter given for every run; None: each project's own environment
        (`runners.project.env`), orps's own interpreter for dataset tasks."""
        self._envs: dict[str, projectenv.Resolved] = {}
        self.read_paths = [Path(p).resolve() for p in read_paths]
        """Extra read-only paths in every sandbox (`--sandbox-read`), besides the project's
        `[tool.orps] sandbox_read` and what the interpreter needs."""
        self.workspaces = Workspaces()
        self.workers = workers or os.cpu_count() or 2
        self._semaphore: asyncio.Semaphore | None = None
        self.warm = warm
        """Run pytest in forks of a warm worker (`runners.testing.warm`) where it can; cold otherwise."""
        self._warm_workers: dict[str, WarmWorker] = {}

    async def __aenter__(self) -> SandboxEvaluator:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.workspaces.close()
        for worker in self._warm_workers.values():
            worker.close()

    @property
    def warm_worker(self) -> WarmWorker | None:
        """The warm worker started last (for measurements: its pid)."""
        return next(reversed(self._warm_workers.values()), None)

    @property
    def _warm_worker(self) -> WarmWorker | None:
        """The warm worker of orps's own interpreter (the one dataset tasks use)."""
        return self._warm_workers.get(sys.executable)

    @_warm_worker.setter
    def _warm_worker(self, worker: WarmWorker) -> None:
        self._warm_workers[sys.executable] = worker

    def environment(self, task: Task) -> projectenv.Resolved:
        """The interpreter that runs `task`'s tests, why, and what it has (cached per project)."""
        if self.python is not None or task.kind != "project":
            python = self.python or sys.executable
            key = "given:" + python
            if key not in self._envs:
                chosen = projectenv.ProjectPython(python, "given to the evaluator" if self.python else
                                                  "orps's own Python (dataset tasks)", "given" if self.python else "orps")
                info = projectenv.describe(python)
                self._envs[key] = projectenv.Resolved(chosen, info, projectenv.usable(chosen, info))
            return self._envs[key]
        key = str(Path(task.project).resolve())
        if key not in self._envs:
            self._envs[key] = projectenv.resolve(key)
        return self._envs[key]

    def _worker(self, python: str, plugins: list[str]) -> WarmWorker | None:
        """The warm worker for this evaluator's interpreter (started on first use), unless
        warm runs are off, perf counts instructions (it wraps a cold process), or the project
        loads a plugin that wants a process of its own (`COLD_PLUGINS`)."""
        if not self.warm or perf_available() or any(p.split(".")[0] in COLD_PLUGINS for p in plugins):
            return None
        if python not in self._warm_workers:
            worker = self._warm_workers[python] = WarmWorker(python, scrubbed_env(), [*WARM_PRELOAD, *plugins])
            weakref.finalize(self, worker.close)  # an evaluator never closed still ends it
        return self._warm_workers[python]

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False, repeat: int = 1,
                       files: dict[str, str] | None = None) -> Evaluation:
        """Run `code` against the task's tests (`hidden` ones on request). With `repeat=N`
        the tests run N times (one after another) and `runtime_s` is the minimum of the
        call-phase sums, for stable speed comparisons. `files` (project tasks: relative
        path -> new text, e.g. a patch's result) replaces whole files in the copy, after the
        candidate is spliced; the changed non-test files count as the candidate's code."""
        tests = task.hidden_tests if hidden else task.tests
        static = static_metrics(code)
        if not tests:
            return Evaluation(verdict="error", message="the task has no tests to run", static=static)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.workers)
        env = self.environment(task)
        if env.problem is not None:  # nothing can run: say why and how to fix it, blaming no code
            message = f"{ENV_UNUSABLE} {env.problem.message}\n{env.problem.hint}"
            return Evaluation(verdict="error", total=len(tests), message=message, static=static,
                              tests=[TestResult(t if task.kind == "project" else f"assert {i}", "error",
                                                env.problem.message) for i, t in enumerate(tests)])
        try:
            prepared = self.workspaces.prepare(task, code, tests, asserts_test_file)
            if files and task.kind == "project":
                _replace_files(prepared, files)
        except ValueError as err:  # the candidate cannot even be put in place: nothing runs
            return Evaluation(verdict="error", total=len(tests), message=str(err), static=static,
                              tests=[TestResult(t if task.kind == "project" else f"assert {i}", "error", str(err))
                                     for i, t in enumerate(tests)])
        try:
            runs = []
            for _ in range(max(1, repeat)):
                async with self._semaphore:
                    runs.append(await self._run_pytest(prepared, env, project=task.kind == "project",
                                                       trust=trust_info(task, prepared.path, prepared.node_ids,
                                                                        _non_test(files or {}))))
                if not runs[-1].all_passed:
                    break
        except asyncio.CancelledError:
            # The sandbox is already killed (`run_sandboxed`); remove the workspace after it
            # is gone, off the loop, so the cancel returns at once.
            later(self.workspaces.release, prepared)
            raise
        except BaseException:
            self.workspaces.release(prepared)
            raise
        self.workspaces.release(prepared)
        ev = runs[-1]
        if prepared.notes:  # a project changed under the search, files left out of the copy
            ev.message = "\n".join(filter(None, [ev.message, *prepared.notes]))
        if len(runs) > 1 and ev.all_passed:
            ev.runtime_s = min(r.runtime_s for r in runs if r.runtime_s is not None)
            ev.message = (ev.message + "\n" if ev.message else "") + \
                f"runtime: min of {len(runs)} runs (median {statistics.median(r.runtime_s for r in runs):.6f} s)"
        if task.kind == "asserts":  # ids a model can read: the assert itself, not test_3
            for result, snippet in zip(ev.tests, tests):
                result.id = snippet.strip().splitlines()[0][:200] if snippet.strip() else result.id
        ev.static = static
        if task.goal == "faster" and task.kind == "project" and ev.all_passed and not hidden and not files:
            from runners.speed.equivalence import judge_behaviour  # passing tests is not enough: same answers

            ev = await judge_behaviour(self, task, code, ev)
        return masked(ev)

    async def confirm(self, task: Task, code: str, *, files: dict[str, str] | None = None):
        """Run the tests with the candidate in a process of its own (`runners.testing.confirm`)."""
        from runners.testing.confirm import confirm

        return await confirm(self, task, code, files=files)

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        """The minimum call-phase runtime over `repeats` runs (None when a run fails)."""
        ev = await self.evaluate(task, code, repeat=repeats)
        return ev.runtime_s if ev.all_passed else None

    async def compare_speed(self, task: Task, code: str, min_speedup: float = 0.10) -> dict:
        """--goal faster: `code` timed against the original per call, interleaved, on the
        calls the tests made (`runners.speed.timing`)."""
        from runners.speed.timing import compare_speed

        return await compare_speed(self, task, code, min_speedup=min_speedup)

    def _pythonpath(self, prepared: Prepared, project: bool) -> str:
        """For projects the copy's `src/` and root, first, so the candidate's copy wins over an
        editable install of the user's original package (put on sys.path by `_test_boot`
        once pytest and our plugin are imported, never before)."""
        paths = []
        if project:
            paths += [str(prepared.path / name) for name in ("src", "") if (prepared.source / name).is_dir()]
        return os.pathsep.join(p.rstrip("/") for p in paths)

    def _read_paths(self, prepared: Prepared, env: projectenv.Resolved) -> list[Path]:
        """Host paths the run may read besides the system view: our plugin, the interpreter
        running the tests (a project's virtualenv: bound where it is, read-only, never
        copied), the extra paths asked for."""
        extra = prepared.snapshot.rules.sandbox_read if prepared.snapshot else []
        return [self.workspaces.plugin_dir, *interpreter_view(env), *self.read_paths, *extra]

    async def _run_pytest(self, prepared: Prepared, env: projectenv.Resolved, project: bool,
                          trust: dict | None = None, extra_env: dict[str, str] | None = None,
                          extra_fds: tuple[int, ...] = (), limits: Limits | None = None) -> Evaluation:
        """`extra_env`, `extra_fds`, `limits`: a confirmation run's proxy socket and its
        longer time limit (`runners.testing.confirm`)."""
        workspace, node_ids, conftests = prepared.path, prepared.node_ids, prepared.conftests
        channel = Channel(conftests, **(trust or {}))
        if project and prepared.lower is not None:
            # The project mounted copy-on-write with the files under test (the whole test
            # tree, conftests, config) bound read-only from the snapshot over it: tests may
            # write elsewhere, a candidate imported early cannot rewrite a test, its data or
            # a conftest (`runners.sandbox.workspace`).
            writable, read_only = [], []
        elif project:
            # A real copy (no overlay here): mounted read-only but for what tests may write;
            # the tests and conftests (and the bytecode caches beside them) stay read-only.
            writable, read_only = [], protected_project_paths(workspace, node_ids, conftests)
        else:
            # A fresh directory: writable (dataset tests write files in their cwd), except
            # the test file, the ini and an empty conftest.py that nothing can replace.
            writable, read_only = [workspace], [workspace / name for name in PROTECTED]
        python = env.chosen.path
        # Our boot script, not `-m pytest`: nothing in the project can stand in for pytest or
        # our plugin (`runners.testing._test_boot`).
        argv = [python, str(self.workspaces.plugin_dir / f"{BOOT_MODULE}.py"), "-p", PLUGIN_MODULE, "-p", "no:cacheprovider",
                "-q", "--no-header", "-rN", "-o", "addopts=" + (kept_addopts(prepared.source) if project else ""),
                "-o", "console_output_style=classic",
                "--tb=short", *node_ids]
        run_env = {**channel.env, "ORPS_PROJECT_PATHS": self._pythonpath(prepared, project), **(extra_env or {})}
        # In the project's own environment pytest loads its installed plugins as plain pytest
        # would (so verdicts match). orps's own environment holds orps's plugins, not the
        # project's, and autoloading them costs seconds (some import whole UI toolkits): there
        # only those the project mentions are loaded (`project_plugins`).
        own_env = env.chosen.kind == "orps" or (env.info.prefixes or [""])[0] == os.path.realpath(sys.prefix)
        autoload = project and not own_env  # (a venv's python links to the same binary as ours: compare prefixes)
        plugins = []
        if project:
            snap = prepared.snapshot
            files = [snap.dir / rel for rel in snap.frozen] if snap else None
            files = [p for f in files for p in ([f] if f.is_file() else f.rglob("*.py"))] if files else None
            plugins = project_plugins(prepared.source, files, env.info.plugins)
        if autoload:
            preload = [module for _, module in env.info.plugins if module.split(".")[0] not in COLD_PLUGINS]
            cold = any(p.split(".")[0] in COLD_PLUGINS for p in plugins)
            plugins = plugins if cold else list(dict.fromkeys(preload))
        else:
            run_env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
            for module in plugins:
                argv[2:2] = ["-p", module]
        perf = list(os.pipe()) if perf_available() else [-1, -1]  # [read end, write end]
        perf_w = perf[1]
        if perf_w >= 0:
            argv = perf_prefix(perf_w) + argv

        def started() -> None:
            channel.after_start()
            if perf[1] >= 0:
                os.close(perf[1])
                perf[1] = -1

        loop = asyncio.get_running_loop()
        result_fd = channel.result_r
        loop.add_reader(result_fd, channel.drain)
        channel.on_full = lambda: loop.remove_reader(result_fd)
        try:
            run = await run_sandboxed(argv, workspace, limits or self.limits, env=run_env,
                                      pass_fds=channel.fds + tuple(extra_fds) + ((perf_w,) if perf_w >= 0 else ()),
                                      extra_ro=self._read_paths(prepared, env), writable=writable,
                                      read_only=read_only, copy_on_write=project, lower=prepared.lower,
                                      mounts=prepared.mounts, on_start=started,
                                      warm=None if perf_w >= 0 else self._worker(python, plugins))
            channel.drain()
        finally:
            loop.remove_reader(result_fd)
            channel.close()
            if perf[1] >= 0:
                os.close(perf[1])
            instructions = _read_perf(perf[0]) if perf[0] >= 0 else None
        records, problems = channel.records()
        ev = judge(records, problems, expected_ids(node_ids, records), run)
        if project:
            ev.message = name_missing_modules(ev.message, env, prepared.source)
            for test in ev.tests:
                test.message = name_missing_modules(test.message, env, prepared.source)
        ev.instructions = instructions
        return ev


def _read_perf(fd: int) -> int | None:
    os.set_blocking(fd, False)
    try:
        return parse_perf(os.read(fd, 1 << 16).decode(errors="replace"))
    except OSError:
        return None
    finally:
        os.close(fd)
