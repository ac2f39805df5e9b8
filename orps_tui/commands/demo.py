"""`orps demo`: the whole flow on a bundled example project, with the embedded model.

Copies the example (a small module with a bug its tests catch) to a fresh directory,
then searches for a fix with `local/smollm2`: no API key, no network. The copy is
kept, so the run directory and the proposed patch can be looked at afterwards.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from orps_tui.commands.options import add_search_options, request_from_args
from orps_tui.commands.solve import run_headless
from orps_tui.errors import UserError

EXAMPLE = Path(__file__).resolve().parent.parent / "example"
TARGET = "text.py::count_words"


def add_parser(sub):
    p = sub.add_parser(
        "demo",
        help="fix a bug in a bundled example project with the embedded local model",
        description="Copy the bundled example project to a new directory and search for a fix "
        f"of {TARGET} with local/smollm2 (no API key, no network).",
    )
    p.add_argument("--dir", help="where to put the example copy (default: a new temporary directory)")
    p.add_argument("--headless", action="store_true", help="no TUI: progress on stderr, result on stdout")
    p.add_argument("--json", action="store_true", help="print the result document as JSON (implies --headless)")
    p.add_argument("--patch-out", help="write the proposed patch to this file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    add_search_options(p)
    p.set_defaults(func=run)


def copy_example(dest: str | None) -> Path:
    if dest:
        target = Path(dest)
        if target.exists() and any(target.iterdir()):
            raise UserError(f"{target} exists and is not empty; choose a new --dir")
    else:
        target = Path(tempfile.mkdtemp(prefix="orps-demo-"))
    shutil.copytree(EXAMPLE, target, dirs_exist_ok=True)
    return target


def run(args) -> int:
    from orps_tui.solving import prepare_job

    project = copy_example(args.dir)
    print(f"example project: {project}", file=sys.stderr)
    job = prepare_job(project, request_from_args(args, target=TARGET))
    if args.headless or args.json or not sys.stdout.isatty():
        code = run_headless(project, job, args)
        return 0 if code == 1 else code  # an unsolved demo still ran fine: the tiny model often fails
    from orps_tui.app import make_app, run_app

    return run_app(make_app(project, target=TARGET, settings=job.settings, run_id=job.run.id, job=job))
