"""A warm worker started for a project before its tests are known (one-shot commands).

`orps check` runs its tests once. Cold, that run starts an interpreter in the sandbox and
imports pytest there (about 0.3 s of the sample project's 0.6 s under plain pytest) only
after orps has imported itself, found the target and selected its tests. Started here, as
soon as the project is known, the project's interpreter imports pytest on the other core
(`runners.testing.warm`) and passes its first sandboxed run while orps does the rest; the
run itself is then a fork of it, as every run of a search is.

Nothing about the run changes but where pytest was imported: the same sandbox (bwrap with
every mount, limit and cgroup, set up for that run), the same boot script, plugin, result
channel and judge. Where the worker cannot be used (no sandbox namespaces, perf counting
instructions, a project whose interpreter cannot run pytest, a first run that failed) the
evaluator is not given it and the run is cold, as before.
"""

from __future__ import annotations

import threading
from pathlib import Path

from runners.testing.warm import COLD_PLUGINS, WARM_PRELOAD, WarmWorker


class EarlyWorker:
    """Starts the project's warm worker now and its first run on a thread; `close()` ends it."""

    def __init__(self, project: Path):
        self.project = Path(project).resolve()
        self.worker: WarmWorker | None = None
        self._done = threading.Event()
        try:
            # Here, not on the thread: a few milliseconds, then pytest's import runs in the
            # worker on the other core while this thread imports the rest of orps.
            self.worker = self._start_worker()
            if self.worker is not None:
                threading.Thread(target=self._first_run, name="orps-early-worker", daemon=True).start()
        except Exception:  # noqa: BLE001 - any failure here only means a cold run
            if self.worker is not None:
                self.worker.close()
            self.worker = None
        if self.worker is None:
            self._done.set()

    def _start_worker(self) -> WarmWorker | None:
        from runners.project import env as projectenv
        from runners.sandbox.environ import scrubbed_env

        env = projectenv.resolve(self.project)
        if env.problem is not None:
            return None  # nothing can run: the evaluation says why
        # What the evaluator preloads for this environment (`SandboxEvaluator._run_pytest`):
        # the installed plugins pytest autoloads in the project's own environment; none in
        # orps's (the project's mentions are imported in the run).
        plugins = (
            []
            if projectenv.runs_in_orps_environment(env)
            else [module for _, module in env.info.plugins if module.split(".")[0] not in COLD_PLUGINS]
        )
        return WarmWorker(
            env.chosen.path, scrubbed_env(), [*WARM_PRELOAD, *dict.fromkeys(plugins)], projectenv.interpreter_view(env)
        )

    def _first_run(self) -> None:
        worker = self.worker
        assert worker is not None  # the thread is started for a worker
        try:
            from runners.sandbox.bwrap import bwrap_works, probe_in_background
            from runners.sandbox.run import warm_ready
            from runners.testing.metrics import perf_available

            probe_in_background(self.project)  # what the sandbox can use here (once per process)
            # bwrap_works waits for the sandbox's probe, by when perf's (beside it) has answered.
            if not bwrap_works()[0] or perf_available():
                worker.close()  # every run is cold here (no namespaces; perf wraps a fresh process)
                return
            import asyncio

            asyncio.run(warm_ready(worker))
        except Exception:  # noqa: BLE001 - the worker is then not used: a cold run
            worker.close()
        finally:
            self._done.set()

    def usable(self) -> WarmWorker | None:
        """The worker, if it started and has not failed (yet): runs may be sent to it now,
        before its first run has answered (`first_run_passed` says after them whether they
        count)."""
        worker = self.worker
        if worker is None or worker.broken is not None or worker.probe == "failed":
            return None
        return worker

    async def first_run_passed(self) -> bool:
        """Whether the worker's first run (`pytest --version` in a sandbox of its own, where
        no project code runs) passed; waits for it."""
        import asyncio

        if not self._done.is_set():
            await asyncio.to_thread(self._done.wait)
        worker = self.worker
        return worker is not None and worker.probe == "ok" and worker.broken is None

    def close(self) -> None:
        """End the worker (a first run still under way then fails, and its thread ends)."""
        if self.worker is not None:
            self.worker.close()
            self._done.wait(1.0)  # its first run's sandbox and temp directory are gone then
