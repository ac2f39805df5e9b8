"""`orps runs`: past searches of this project (`.orps/runs/`), newest first."""

from __future__ import annotations

import json

from orps_tui.schema import SCHEMA_VERSION
from search.store import run_rows


def add_parser(sub):
    p = sub.add_parser("runs", help="list past searches of this project with status, best pass rate, calls and cost")
    p.add_argument(
        "--project",
        help="project root (default: the nearest directory upwards with a pyproject.toml, setup.cfg or setup.py, else the git root, else the current directory)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-n", "--limit", type=int, default=20, help="show at most N runs (default 20)")
    p.set_defaults(func=run)


def run(args) -> int:
    from orps_tui.applied import with_applied
    from orps_tui.config import project_dir

    project = project_dir(args.project)
    rows = with_applied(project, run_rows(project, args.limit))  # applied: read from the files now
    if args.json:
        print(json.dumps({"schema_version": SCHEMA_VERSION, "runs": rows}, indent=2))
        return 0
    if not rows:
        print("no runs yet in this project (orps solve --target FILE::FUNCTION starts one)")
        return 0
    print(f"{'RUN':<21} {'STATUS':<12} {'RESULT':<14} {'PASS':>5} {'CALLS':>6} {'COST':>8} {'APPLIED':<7}  TARGET")
    for r in rows:
        rate = "-" if r["pass_rate"] is None else f"{r['pass_rate']:.0%}"
        cost = "-" if r["cost_usd"] is None else f"${r['cost_usd']:.4f}"
        calls = "-" if r["calls"] is None else str(r["calls"])
        applied = "yes" if r["applied"] else "-"
        print(
            f"{r['id']:<21} {r['status']:<12} {r['result']:<14} {rate:>5} {calls:>6} {cost:>8} {applied:<7}  "
            f"{r['target']}"
        )
    return 0
