"""A warm worker started for a project before its tests are known (one-shot commands).

`orps check` runs its tests once. Cold, that run starts an interpreter in the sandbox and
imports pytest there (about 0.3 s of the sample project's 0.6 s under plain pytest) only
after orps has imported itself, found the target and selected its tests. Started here, as
soon as the project is known, the project's interpreter imports pytest on the other core
(`runners.testing.warm`) while orps does the rest; the run itself is then a fork of it, as
every run of a search is, in a sandbox set up for it while the import finishes.

Nothing about the run changes but where pytest was imported: the same sandbox (bwrap with
every mount, limit and cgroup), the same boot script, plugin, result channel and judge.
The worker's usual first run (`pytest --version` in a sandbox of its own) is not waited
for: a warm run that ends `passed` or `failed` had the plugin's records complete, so the
warm path worked. Only a run that ended otherwise (crashed, an error, a timeout) asks for
that first run, and when it fails the check runs again cold. Where the worker cannot be
used at all (no namespaces, perf counting instructions, a project whose interpreter cannot
run pytest) the evaluator does not use it and the run is cold, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runners.testing.warm import COLD_PLUGINS, WARM_PRELOAD, WarmWorker

if TYPE_CHECKING:
    from search.types import Evaluation

WARM_PATH_WORKED = ("passed", "failed")
"""Verdicts a run reaches only with the plugin's records complete (every test reported,
the session finished): whatever path started pytest worked."""


class EarlyWorker:
    """Starts the project's warm worker now; `close()` ends it."""

    def __init__(self, project: Path):
        self.project = Path(project).resolve()
        self.worker: WarmWorker | None = None
        try:
            # A few milliseconds here, then pytest's import runs in the worker on the other
            # core while this thread imports the rest of orps.
            self.worker = self._start_worker()
        except Exception:  # noqa: BLE001 - any failure here only means a cold run
            self.worker = None

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

    def usable(self) -> WarmWorker | None:
        """The worker, if it started and has not failed (yet)."""
        worker = self.worker
        if worker is None or worker.broken is not None or worker.probe == "failed":
            return None
        return worker

    async def ran_warm_in_vain(self, evaluation: Evaluation) -> bool:
        """Whether `evaluation`, run through this worker, is no evidence: it did not end
        `passed` or `failed` and the worker's first run (run now if it has not been: `pytest
        --version` in a sandbox of its own, where no project code runs) fails."""
        if not (evaluation.isolation or "").endswith("+warm") or evaluation.verdict in WARM_PATH_WORKED:
            return False
        worker = self.worker
        if worker is None:
            return True
        from runners.sandbox.run import warm_ready

        return not (await warm_ready(worker) and worker.broken is None)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
