"""Wall time of `orps demo --headless --json --seed S` over seeds, with the embedded model's
Q8_0 copy (what orps loads) and with the wheel's Q4_1 file, the two interleaved per seed so
that the machine's load hits both alike.

The Q4_1 runs point XDG_CACHE_HOME at a directory that cannot be created (under /proc), so
search.providers.q8_copy cannot make or find a copy and loads the original file: the
fallback a full or read-only cache directory gets.

With `--before DIR` (another checkout of orps, e.g. a detached worktree of an earlier
commit), each seed and file also runs with that checkout's code, interleaved with this one's.

    python benchmarks/bench_demo.py [--seeds 0-9] [--files q8_0,q4_1] [--before DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNCREATABLE_CACHE = "/proc/self/orps-no-cache"
"""mkdir fails under /proc even for root: the Q8_0 copy cannot be made there."""


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def run_demo(seed: int, file: str, root: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    if file == "q4_1":
        env["XDG_CACHE_HOME"] = UNCREATABLE_CACHE
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "orps_tui.cli", "demo", "--headless", "--json", "--seed", str(seed)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/tmp",
    )
    wall = time.perf_counter() - started
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = {}
    fell_back = "could not prepare the embedded model's Q8_0 copy" in proc.stderr
    return {
        "seed": seed,
        "file": file,
        "code": str(root),
        "wall_s": round(wall, 1),
        "fixed": doc.get("status") == "solved" and bool(doc.get("patch")),
        "calls": (doc.get("usage") or {}).get("calls"),
        "best": (doc.get("best") or {}).get("id"),
        "loaded_original": fell_back,
        "exit": proc.returncode,
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--files", default="q8_0,q4_1", help="the order within each seed")
    parser.add_argument("--before", default="", help="another checkout of orps to run beside this one")
    parser.add_argument("--json", dest="json_out", default="")
    args = parser.parse_args()
    roots = {"": ROOT} if not args.before else {"before ": Path(args.before).resolve(), "after ": ROOT}
    files = [label + file for file in args.files.split(",") for label in roots]
    if args.before:
        print(f"before: {roots['before ']} ({_commit(roots['before '])}); after: {ROOT} ({_commit(ROOT)})")
    rows: list[dict] = []
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"{'seed':>4} "
        + " ".join(
            f"{f + ' fixed':>{len(f) + 6}} {f + ' calls':>{len(f) + 6}} {f + ' wall s':>{len(f) + 7}}" for f in files
        )
    )
    for seed in seeds_of(args.seeds):
        line = f"{seed:>4} "
        for name in files:
            label, file = name.rsplit(" ", 1) if " " in name else ("", name)
            r = run_demo(seed, file, roots[label + " " if label else ""])
            r["file"] = name
            rows.append(r)
            if file == "q4_1" and not r["loaded_original"]:
                sys.exit(
                    f"seed {seed}: the Q4_1 run did not fall back to the original file; the figures would be wrong"
                )
            line += f"{'yes' if r['fixed'] else 'NO':>{len(name) + 6}} {r['calls']!s:>{len(name) + 6}} "
            line += f"{r['wall_s']:>{len(name) + 7}.1f} "
        print(line + f"  (load average {os.getloadavg()[0]:.1f})", flush=True)
    for file in files:
        mine = [r for r in rows if r["file"] == file]
        walls = [r["wall_s"] for r in mine]
        print(
            f"{file}: fixed {sum(r['fixed'] for r in mine)} of {len(mine)}, wall s median {statistics.median(walls):.1f} "
            f"(min {min(walls):.1f}, max {max(walls):.1f})"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1) + "\n")


def _commit(root: Path) -> str:
    out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


if __name__ == "__main__":
    main()
