"""`orps` with no command: open the TUI on the current project.

`orps --target FILE::FUNC` (or `orps FILE::FUNC`) opens the start screen on that
function with its tests listed; `orps --run RUN-ID` opens that run's review.
"""

from __future__ import annotations

import sys
from pathlib import Path

from orps_tui.errors import UserError
from runners.target import Target, malformed


def tui_app(args):
    """The app the arguments ask for; bad input fails here, before the TUI starts."""
    from orps_tui.app import make_app
    from orps_tui.config import find_project_root
    from search.store import find_run

    given = Path(getattr(args, "tui_project", ".") or ".")
    if not given.is_dir():
        raise UserError(f"project directory {given} does not exist")
    project = find_project_root(given)
    target = getattr(args, "tui_target", None)
    run_id = getattr(args, "tui_run", None)
    if target and not Target.looks_like(target):
        raise UserError(malformed(target))
    if run_id:
        run = find_run(project, run_id)
        if run is None:
            raise UserError(f"no run {run_id} in {project.name}/.orps/runs", hint="list them with: orps runs")
        run_id = run.id
    return make_app(project, target=target, run_id=run_id)


def run(args) -> int:
    """Open the start screen (or a run's review) on the project."""
    app = tui_app(args)
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError("the TUI needs a terminal", hint="use the headless commands: orps solve --headless, orps runs")
    from orps_tui.app import run_app

    return run_app(app)
