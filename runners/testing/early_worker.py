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

import asyncio
import threading
from pathlib import Path

from runners.testing.warm import COLD_PLUGINS, WARM_PRELOAD, WarmWorker


class EarlyWorker:
    """Starts, on a thread, the project's warm worker and its first run; `close()` ends it."""

    def __init__(self, project: Path):
        self.project = str(Path(project).resolve())
        self.worker: WarmWorker | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._done = threading.Event()
        try:
            threading.Thread(target=self._start, name="orps-early-worker", daemon=True).start()
        except RuntimeError:  # no thread to be had: the run is cold
            self._done.set()

    def _start(self) -> None:
        try:
            self._start_worker()
        except Exception:  # noqa: BLE001 - any failure here only means a cold run
            pass
        finally:
            self._done.set()

    def _start_worker(self) -> None:
        from runners.project import env as projectenv
        from runners.sandbox.bwrap import bwrap_works, probe_in_background, scrubbed_env
        from runners.testing.metrics import perf_available
        from runners.testing.prepare import interpreter_view

        env = projectenv.resolve(self.project)
        if env.problem is not None:
            return  # nothing can run: the evaluation says why
        # What the evaluator preloads for this environment (`SandboxEvaluator._run_pytest`):
        # the installed plugins pytest autoloads in the project's own environment; none in
        # orps's (the project's mentions are imported in the run).
        plugins = (
            []
            if projectenv.runs_in_orps_environment(env)
            else [module for _, module in env.info.plugins if module.split(".")[0] not in COLD_PLUGINS]
        )
        with self._lock:
            if self._closed:
                return
            # Before anything else: pytest's import is the long part.
            worker = self.worker = WarmWorker(
                env.chosen.path, scrubbed_env(), [*WARM_PRELOAD, *dict.fromkeys(plugins)], interpreter_view(env)
            )
        probe_in_background(Path(self.project))  # what the sandbox can use here (once per process)
        # bwrap_works waits for the sandbox's probe, by when perf's (beside it) has answered.
        if not bwrap_works()[0] or perf_available():
            worker.close()  # every run is cold here (perf wraps a fresh process; no namespaces)
            return
        from runners.sandbox.run import warm_ready

        asyncio.run(warm_ready(worker))

    async def ready(self) -> WarmWorker | None:
        """The worker once its first run has passed; None when it cannot be used."""
        if not self._done.is_set():
            await asyncio.to_thread(self._done.wait)
        worker = self.worker
        if worker is None or worker.probe != "ok" or worker.broken is not None:
            return None
        return worker

    def close(self) -> None:
        """End the worker (a first run still under way then fails, and its thread ends)."""
        with self._lock:
            self._closed = True
            worker = self.worker
        if worker is not None:
            worker.close()
            self._done.wait(1.0)  # its first run's sandbox and temp directory are gone then
