"""`orps` with no command: open the TUI on the current project."""

from __future__ import annotations

import sys
from pathlib import Path

from orps_tui.errors import UserError


def run(args) -> int:
    """Open the start screen on the project in the current directory."""
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError("the TUI needs a terminal", hint="use the headless commands: orps solve --headless, orps runs")
    from orps_tui.app import make_app

    from orps_tui.config import find_project_root

    make_app(find_project_root(Path.cwd())).run()
    return 0
