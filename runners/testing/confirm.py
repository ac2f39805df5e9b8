"""A confirmation run: the tests pass with the candidate's code out of their reach.

In a normal run the candidate's code shares one interpreter with pytest, orps's recorder
and the tests, and whatever checks that process makes, the candidate can join the race.
Here two sandboxes run side by side, joined by one socket:
- the tests' sandbox: pytest, the recorder and the tests, exactly as in a normal run,
  except that the target is a proxy (`runners.testing._proxy`) and the file that held it holds a
  stub that raises (a test that runs the target in a process of its own does not pass);
- the candidate's sandbox: the candidate's module and the project's source, without a
  single test file, conftest or test directory, serving the proxy's calls.

`Confirmation.status`: "confirmed" (every test passed so), "unconfirmed" (something could
not cross the process boundary, said why: an argument that does not pickle, a result of a
library's type, a patch that changes other files...) or "failed" (a test failed: a
candidate that forged its pass inside the test process lands here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runners.sandbox.bwrap import bwrap_works
from runners.sandbox.cleanup import remove_tree
from runners.sandbox.run import run_sandboxed
from runners.target import Target
from runners.testing import harness_bytecode
from runners.testing._proxy import CONFIG_ENV, GUARD
from runners.testing.evaluator import SandboxEvaluator
from runners.testing.prepare import _replace_files, asserts_test_file, bytecode_of, is_test_file, trust_info
from search.types import Evaluation, Task

PROXY_SOURCE = Path(__file__).with_name("_proxy.py")
PROXY_MODULE = "_orps_proxy"
STANDIN = f"import {PROXY_MODULE}\n{PROXY_MODULE}.export(globals())\n"
"""The `solution` module the tests of a dataset task import in a confirmation run."""
STATUSES = ("confirmed", "unconfirmed", "failed")
TIME_FACTOR = 3
"""A confirmation run gets this many times the normal time limit: every call to the target
is a round trip between two processes, and a test that calls it in a tight loop must not
fail for that (running out of time is "failed", so a candidate cannot stall its way to
"unconfirmed")."""


@dataclass
class Confirmation:
    status: str
    reason: str = ""
    passed: int = 0
    total: int = 0
    wall_s: float = 0.0
    isolation: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def line(self) -> str:
        """One line for a review, a summary or a patch header."""
        if self.status == "confirmed":
            return (
                f"confirmed: {self.passed}/{self.total} tests passed with the candidate in a separate process "
                "that cannot see the tests"
            )
        return f"{self.status}: {self.reason}" if self.reason else self.status


def _alone(confirmation: Confirmation) -> tuple[Confirmation, set[str]]:
    return confirmation, set()


def module_name(rel: str, has_src: bool) -> str:
    """The module a project's file is imported as (from the root, or from `src/`)."""
    parts = list(Path(rel).with_suffix("").parts)
    if has_src and parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def hidden_test_paths(files, target_rel: str, test_dirs=()) -> list[str]:
    """What of the project the candidate's process must not see: every test directory
    (`tests/`..., and `test_dirs`: those the selected tests live in) that does not hold the
    target, and every other test file or conftest."""
    hidden: set[str] = {d for d in test_dirs if not (target_rel == d or target_rel.startswith(d + "/"))}
    for rel in files:
        if not is_test_file(rel) or rel == target_rel:
            continue
        parts = Path(rel).parts
        cut = next((i for i, p in enumerate(parts[:-1]) if p in ("tests", "test", "testing")), None)
        if cut is not None:
            top = "/".join(parts[: cut + 1])
            if not (target_rel == top or target_rel.startswith(top + "/")):
                hidden.add(top)
                continue
        hidden.add(rel)
    return sorted(h for h in hidden if not any(h.startswith(o + "/") for o in hidden if o != h))


def _stub(qualname: str) -> str:
    name = qualname.rsplit(".", 1)[-1]
    return f"def {name}(*args, **kwargs):\n    raise RuntimeError({GUARD!r})\n"


async def confirm(
    evaluator: SandboxEvaluator, task: Task, code: str, *, files: dict[str, str] | None = None
) -> Confirmation:
    """Run the task's tests against `code` (or the project with `files` replaced) with the
    candidate in its own sandboxed process (see the module docstring).

    Some tests depend on state they set through *other* functions of the project (a locale
    activated, a registry filled), which the candidate's process does not share: such a test
    fails across the boundary whatever the code. When every test that failed here is one
    that the project's own code passes in a normal run and fails across the boundary too,
    the confirmation is "unconfirmed" (naming them), not "failed"."""
    confirmation, failing = await _confirm_once(evaluator, task, code, files=files)
    if confirmation.status != "failed" or not failing or task.kind != "project" or not task.original_code:
        return confirmation
    sensitive = await _boundary_sensitive(
        evaluator, task, failing if code == task.original_code and not files else None
    )
    if not failing <= sensitive:
        return confirmation
    names = ", ".join(sorted(failing)[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
    confirmation.status = "unconfirmed"
    confirmation.reason = (
        f"{len(failing)} test(s) fail across the process boundary with the project's own code too "
        f"(they depend on state the tests set in their own process): {names}"
    )
    return confirmation


async def _boundary_sensitive(evaluator: SandboxEvaluator, task: Task, failing_there: set[str] | None) -> set[str]:
    """The tests that the project's own code passes in a normal run but fails across the
    boundary (`failing_there`: its confirmation's failures, when just measured)."""
    normal = await evaluator.evaluate(task, task.original_code)
    passed_normally = {t.id for t in normal.tests if t.outcome == "passed"}
    if failing_there is None:
        _, failing_there = await _confirm_once(evaluator, task, task.original_code)
    return failing_there & passed_normally


async def _confirm_once(
    evaluator: SandboxEvaluator, task: Task, code: str, *, files: dict[str, str] | None = None
) -> tuple[Confirmation, set[str]]:
    """One confirmation run, and the ids of the tests that failed in it."""
    started = time.perf_counter()
    ok, why = bwrap_works()
    if not ok:
        return _alone(
            Confirmation("unconfirmed", f"no sandbox here ({why}): the candidate's process could read the tests")
        )
    files = dict(files or {})
    target_rel = Target.parse(task.target).path.strip("/") if task.kind == "project" else "solution.py"
    others = sorted(rel for rel in files if not is_test_file(rel) and rel != target_rel)
    if others:
        return _alone(
            Confirmation(
                "unconfirmed",
                f"the patch changes files besides the target ({', '.join(others[:3])}): "
                "only the target's calls cross the process boundary",
            )
        )
    env = evaluator.environment(task)
    if env.problem is not None:
        return _alone(Confirmation("unconfirmed", f"the tests cannot run here: {env.problem.message}"))
    plugin_dir = evaluator.workspaces.plugin_dir
    if not (plugin_dir / f"{PROXY_MODULE}.py").is_file():
        shutil.copyfile(PROXY_SOURCE, plugin_dir / f"{PROXY_MODULE}.py")
    harness_bytecode.provide(plugin_dir, env.chosen.path, env.info)
    tests = list(task.tests)
    project = task.kind == "project"
    qualname = Target.parse(task.target).qualname if project else task.entry_point
    try:
        # The tests' side: the target replaced by a stub (a proxy once imported).
        if project:
            tests_side = evaluator.workspaces.prepare(task, _stub(qualname), tests, asserts_test_file, bytecode_of(env))
            _replace_files(tests_side, {rel: text for rel, text in files.items() if is_test_file(rel)})
        else:
            tests_side = evaluator.workspaces.prepare(task, code, tests, asserts_test_file)
            (tests_side.path / "solution.py").write_text(STANDIN)
    except ValueError as err:
        return _alone(Confirmation("failed", f"the candidate cannot be put in place: {err}"))
    try:
        if project:
            candidate_side = evaluator.workspaces.prepare(
                task, code if not files else task.original_code, tests, asserts_test_file, bytecode_of(env)
            )
            _replace_files(candidate_side, {rel: text for rel, text in files.items() if not is_test_file(rel)})
        else:
            candidate_side = None
    except ValueError as err:
        evaluator.workspaces.release(tests_side)
        return _alone(Confirmation("failed", f"the candidate cannot be put in place: {err}"))
    alone = None
    try:
        if candidate_side is None:  # a dataset task: a directory with the candidate's module only
            alone = Path(os.path.realpath(evaluator.workspaces.root)) / f"candidate-{os.urandom(4).hex()}"
            alone.mkdir()
            (alone / "solution.py").write_text(code)
        return await _run_pair(evaluator, task, env, tests_side, candidate_side, alone, qualname, target_rel, started)
    finally:
        evaluator.workspaces.release(tests_side)
        if candidate_side is not None:
            evaluator.workspaces.release(candidate_side)
        if alone is not None:
            remove_tree(alone)


async def _run_pair(evaluator, task, env, tests_side, candidate_side, alone, qualname, target_rel, started):
    project = candidate_side is not None
    where = candidate_side.path if project else alone
    mounts, writable = [], [alone] if alone else []
    if project:
        snap = candidate_side.snapshot
        frozen_dirs = [rel for rel in snap.frozen if (snap.project / rel).is_dir()] if snap else []
        hidden = hidden_test_paths(snap.listing.files if snap else [], target_rel, frozen_dirs)
        for rel in hidden:
            if candidate_side.lower is not None:
                empty = snap.empty_dir if (snap.project / rel).is_dir() else snap.empty_file
                mounts.append((empty, candidate_side.path / rel))
            else:
                remove_tree(candidate_side.path / rel)
        mounts = [*candidate_side.mounts, *mounts]
    has_src = project and (candidate_side.source / "src").is_dir()
    ours, theirs = socket.socketpair()
    notes_r, notes_w = os.pipe()
    os.set_blocking(notes_r, False)
    open_fds = {"theirs": theirs.detach(), "notes_w": notes_w}

    def close(name: str) -> None:
        fd = open_fds.pop(name, -1)
        if fd >= 0:
            os.close(fd)

    server_config = {
        "fd": open_fds["theirs"],
        "kind": task.kind,
        "qualname": qualname,
        "module": module_name(target_rel, has_src) if project else "solution",
        "paths": evaluator._pythonpath(candidate_side, True).split(os.pathsep) if project else [],
    }
    argv = [
        env.chosen.path,
        str(evaluator.workspaces.plugin_dir / f"{PROXY_MODULE}.py"),
        "serve",
        json.dumps(server_config),
    ]
    limits = dataclasses.replace(evaluator.limits, timeout_s=evaluator.limits.timeout_s * TIME_FACTOR)
    server = asyncio.ensure_future(
        run_sandboxed(
            argv,
            where,
            limits,
            pass_fds=(open_fds["theirs"],),
            extra_ro=evaluator._read_paths(candidate_side or tests_side, env),
            writable=writable,
            copy_on_write=project,
            lower=candidate_side.lower if project else None,
            mounts=mounts,
            on_start=lambda: close("theirs"),
        )
    )
    client_fd = ours.detach()
    client_config = {
        "fd": client_fd,
        "notes": notes_w,
        "kind": task.kind,
        "qualname": qualname,
        "target_path": str(tests_side.path / target_rel),
    }
    try:
        if evaluator._semaphore is None:
            evaluator._semaphore = asyncio.Semaphore(evaluator.workers)
        async with evaluator._semaphore:
            ev = await evaluator._run_pytest(
                tests_side,
                env,
                project=project,
                trust=trust_info(task, tests_side.path, tests_side.node_ids),
                extra_env={CONFIG_ENV: json.dumps(client_config)},
                extra_fds=(client_fd, notes_w),
                limits=limits,
            )
    finally:
        os.close(client_fd)  # the candidate's process sees the end of the calls and stops
        close("notes_w")
        try:
            run = await asyncio.wait_for(asyncio.shield(server), timeout=5)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            server.cancel()
            run = None
        close("theirs")
    try:
        notes = os.read(notes_r, 1 << 16).decode(errors="replace").splitlines()
    except BlockingIOError:
        notes = []
    finally:
        os.close(notes_r)
    failing = {t.id for t in ev.tests if t.outcome not in ("passed", "skipped", "xfailed")}
    return judge_confirmation(ev, notes, time.perf_counter() - started, run), failing


def judge_confirmation(ev: Evaluation, notes: list[str], wall_s: float, server_run=None) -> Confirmation:
    common: dict[str, Any] = {
        "passed": ev.passed,
        "total": ev.total,
        "wall_s": round(wall_s, 3),
        "isolation": ev.isolation,
    }
    notes = [n.strip() for n in notes if n.strip()]
    if notes:
        return Confirmation("unconfirmed", notes[0].removeprefix("unconfirmed: "), **common)
    if any(GUARD in (t.message or "") for t in ev.tests) or GUARD in (ev.message or ""):
        return Confirmation(
            "unconfirmed",
            "the tests run the target in a process of their own, which the proxy does not reach",
            **common,
        )
    if ev.all_passed:
        return Confirmation("confirmed", "", **common)
    failing = next((t for t in ev.tests if t.outcome not in ("passed", "skipped", "xfailed")), None)
    if failing is not None:
        first = next(
            (line[1:].strip() for line in (failing.message or "").splitlines() if line.startswith("E ")),
            (failing.message or failing.outcome).strip().splitlines()[0]
            if (failing.message or "").strip()
            else failing.outcome,
        )
        reason = f"{failing.id}: {first}"[:300]
    else:
        reason = (ev.message.strip().splitlines() or [ev.verdict])[0][:300]
    return Confirmation(
        "failed", f"{ev.passed}/{ev.total} tests passed with the candidate in a separate process; {reason}", **common
    )
