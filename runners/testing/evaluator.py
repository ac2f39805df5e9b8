"""`SandboxEvaluator`: run a candidate against a task's tests in the sandbox, honestly.

What a run is given is prepared in `runners.testing.prepare`; its records are verified
and judged in `runners.testing.verdict`.

Dataset tasks (`kind="asserts"`): the candidate becomes `solution.py` and each assert a
pytest test. Project tasks: the candidate is spliced into a throwaway copy of the
project and the selected pytest node ids run. Either way pytest runs with our plugin,
whose signed records are the only evidence we accept (EvalPlus's rule): a test passed
only if it positively reported so, pytest collected exactly the expected tests, and the
session finished with pytest's internals untouched. The exit code is never trusted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from runners.project import env as projectenv
from runners.sandbox.bwrap import scrubbed_env
from runners.sandbox.caps import Limits
from runners.sandbox.cleanup import later
from runners.sandbox.run import ProbingWorker, run_sandboxed
from runners.sandbox.workspace import BOOT_MODULE, PLUGIN_MODULE, PROTECTED, Prepared, Workspaces
from runners.testing import harness_bytecode
from runners.testing.metrics import parse_perf, perf_available, perf_prefix, static_metrics
from runners.testing.prepare import (
    _non_test,
    _replace_files,
    asserts_test_file,
    bytecode_of,
    kept_addopts,
    project_plugins,
    protected_project_paths,
    trust_info,
)
from runners.testing.verdict import ENV_UNUSABLE, Channel, expected_ids, judge, masked, name_missing_modules
from runners.testing.warm import COLD_PLUGINS, WARM_PRELOAD, WarmWorker
from search.types import Evaluation, Task, TestResult

if TYPE_CHECKING:
    from runners.testing.early_worker import EarlyWorker
    from runners.testing.reachmap import ReachMap


def fastest_runtime(runs: list[Evaluation]) -> tuple[float | None, str]:
    """The runtime of repeated passing runs: the fastest, with the median beside it. A run
    whose runtime was not trusted (its tests claimed more time than the run took) has none:
    it is left out, and if no run has one, there is no runtime."""
    known = [r.runtime_s for r in runs if r.runtime_s is not None]
    if not known:
        return None, f"runtime: none of {len(runs)} runs has a runtime that can be trusted"
    return min(known), f"runtime: min of {len(known)} runs (median {statistics.median(known):.6f} s)"


class SandboxEvaluator:
    """Evaluates candidates in parallel sandboxes (at most `workers` at once; default: cores).

    Implements `search.types.Evaluator`. Call `close()` (or use `async with`) to remove
    its temp directory early; it is removed at garbage collection otherwise.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        memory_mb: int = 2048,
        workers: int | None = None,
        python: str | None = None,
        max_procs: int = 64,
        max_file_mb: int = 64,
        read_paths: Sequence[str | Path] = (),
        warm: bool = True,
    ):
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
        self._borrowed: set[str] = set()
        """Interpreters whose worker was lent (`adopt`): its lender closes it."""
        self._reach_maps: dict[str, ReachMap | None] = {}
        """Each project's reach map, read once (`_limits_for`)."""

    async def __aenter__(self) -> SandboxEvaluator:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.workspaces.close()
        for python, worker in self._warm_workers.items():
            if python not in self._borrowed:
                worker.close()

    def adopt(self, early: EarlyWorker) -> bool:
        """Run warm in `early`'s worker (started before the task was known,
        `runners.testing.early_worker`) if it started, without its usual first run: the
        caller asks `early.ran_warm_in_vain(evaluation)` after a run and runs it again cold
        when so (a run lost to a broken warm path is a crash, never a pass: passes come
        only from the plugin's signed records). The worker stays `early`'s to close.
        False (and runs stay cold) when there is no worker to adopt."""
        worker = early.usable()
        if worker is None:
            return False
        self._warm_workers[worker.python] = cast(WarmWorker, ProbingWorker(worker))
        self._borrowed.add(worker.python)
        self.warm = True
        return True

    def forget(self, early: EarlyWorker) -> None:
        """Stop using `early`'s worker: the next runs are cold."""
        worker = early.worker
        if worker is not None and worker.python in self._borrowed:
            del self._warm_workers[worker.python]
            self._borrowed.discard(worker.python)
        self.warm = False

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
                chosen = projectenv.ProjectPython(
                    python,
                    "given to the evaluator" if self.python else "orps's own Python (dataset tasks)",
                    "given" if self.python else "orps",
                )
                info = projectenv.describe(python)
                self._envs[key] = projectenv.Resolved(chosen, info, projectenv.usable(chosen, info))
            return self._envs[key]
        key = str(Path(task.project).resolve())
        if key not in self._envs:
            self._envs[key] = projectenv.resolve(key)
        return self._envs[key]

    def _worker(self, env: projectenv.Resolved, plugins: list[str]) -> WarmWorker | None:
        """The warm worker for this evaluator's interpreter (started on first use), unless
        warm runs are off, perf counts instructions (it wraps a cold process), or the project
        loads a plugin that wants a process of its own (`COLD_PLUGINS`)."""
        if not self.warm or perf_available() or any(p.split(".")[0] in COLD_PLUGINS for p in plugins):
            return None
        python = env.chosen.path
        if python not in self._warm_workers:
            worker = self._warm_workers[python] = WarmWorker(
                python, scrubbed_env(), [*WARM_PRELOAD, *plugins], projectenv.interpreter_view(env)
            )
            weakref.finalize(self, worker.close)  # an evaluator never closed still ends it
        return self._warm_workers[python]

    async def evaluate(
        self, task: Task, code: str, *, hidden: bool = False, repeat: int = 1, files: dict[str, str] | None = None
    ) -> Evaluation:
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
            return Evaluation(
                verdict="error",
                total=len(tests),
                message=message,
                static=static,
                tests=[
                    TestResult(t if task.kind == "project" else f"assert {i}", "error", env.problem.message)
                    for i, t in enumerate(tests)
                ],
            )
        try:
            prepared = self.workspaces.prepare(task, code, tests, asserts_test_file, bytecode_of(env))
            if files and task.kind == "project":
                _replace_files(prepared, files)
        except ValueError as err:  # the candidate cannot even be put in place: nothing runs
            return Evaluation(
                verdict="error",
                total=len(tests),
                message=str(err),
                static=static,
                tests=[
                    TestResult(t if task.kind == "project" else f"assert {i}", "error", str(err))
                    for i, t in enumerate(tests)
                ],
            )
        try:
            runs = []
            for _ in range(max(1, repeat)):
                async with self._semaphore:
                    runs.append(
                        await self._run_pytest(
                            prepared,
                            env,
                            project=task.kind == "project",
                            trust=trust_info(
                                task,
                                prepared.path,
                                prepared.node_ids,
                                _non_test(files or {}),
                                prepared.candidate_lines,
                                prepared.cached_rewrites(replaced=files or ()),
                            ),
                            limits=self._limits_for(task, tests),
                        )
                    )
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
            ev.runtime_s, note = fastest_runtime(runs)
            ev.message = (ev.message + "\n" if ev.message else "") + note
        if task.kind == "asserts":  # ids a model can read: the assert itself, not test_3
            for result, snippet in zip(ev.tests, tests):
                result.id = snippet.strip().splitlines()[0][:200] if snippet.strip() else result.id
        ev.static = static
        if task.goal == "faster" and task.kind == "project" and ev.all_passed and not hidden and not files:
            from runners.speed.equivalence import judge_behaviour  # passing tests is not enough: same answers

            ev = await judge_behaviour(self, task, code, ev)
        return masked(ev)

    def _limits_for(self, task: Task, tests: list[str]) -> Limits | None:
        """Longer than the set time limit when the project's reach map says its tests take
        longer (a map adds every test that runs the target: hundreds, for a helper deep
        under the public API); None keeps the set limits."""
        if task.kind != "project" or not task.project:
            return None
        from runners.testing.reachmap import load

        if task.project not in self._reach_maps:
            self._reach_maps[task.project] = load(Path(task.project))
        reach = self._reach_maps[task.project]
        needed = 2 * reach.expected_s(tests) + 5 if reach is not None else 0.0
        if needed <= self.limits.timeout_s:
            return None
        return Limits(**{**self.limits.__dict__, "timeout_s": needed})

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
        return [self.workspaces.plugin_dir, *projectenv.interpreter_view(env), *self.read_paths, *extra]

    async def _run_pytest(
        self,
        prepared: Prepared,
        env: projectenv.Resolved,
        project: bool,
        trust: dict | None = None,
        extra_env: dict[str, str] | None = None,
        extra_fds: tuple[int, ...] = (),
        limits: Limits | None = None,
    ) -> Evaluation:
        """`extra_env`, `extra_fds`, `limits`: a confirmation run's proxy socket and its
        longer time limit (`runners.testing.confirm`)."""
        workspace, node_ids, conftests = prepared.path, prepared.node_ids, prepared.conftests
        channel = Channel(conftests, **(trust or {}))
        writable: list[Path]
        read_only: list[Path]
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
        harness_bytecode.provide(self.workspaces.plugin_dir, python, env.info)  # the plugin not compiled per run
        # Our boot script, not `-m pytest`: nothing in the project can stand in for pytest or
        # our plugin (`runners.testing._test_boot`).
        argv = [
            python,
            str(self.workspaces.plugin_dir / f"{BOOT_MODULE}.py"),
            "-p",
            PLUGIN_MODULE,
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-rN",
            "-o",
            "addopts=" + (kept_addopts(prepared.source) if project else ""),
            "-o",
            "console_output_style=classic",
            "--tb=short",
            *node_ids,
        ]
        run_env = {**channel.env, "ORPS_PROJECT_PATHS": self._pythonpath(prepared, project), **(extra_env or {})}
        # In the project's own environment pytest loads its installed plugins as plain pytest
        # would (so verdicts match). orps's own environment holds orps's plugins, not the
        # project's, and autoloading them costs seconds (some import whole UI toolkits): there
        # only those the project mentions are loaded (`project_plugins`).
        autoload = project and not projectenv.runs_in_orps_environment(env)
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
        channel.on_done = lambda: loop.remove_reader(result_fd)
        try:
            run = await run_sandboxed(
                argv,
                workspace,
                limits or self.limits,
                env=run_env,
                pass_fds=channel.fds + tuple(extra_fds) + ((perf_w,) if perf_w >= 0 else ()),
                extra_ro=self._read_paths(prepared, env),
                writable=writable,
                read_only=read_only,
                copy_on_write=project,
                lower=prepared.lower,
                mounts=prepared.mounts,
                on_start=started,
                warm=None if perf_w >= 0 else self._worker(env, plugins),
            )
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
