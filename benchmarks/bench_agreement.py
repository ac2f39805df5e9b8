"""Agreement among tied candidates, measured on finished benchmark runs.

`orps bench` keeps every evaluated candidate's code and public result per problem
(`extra.candidates` in `<out>/results.jsonl`). For each problem this re-selects the answer
among the same candidates with and without agreement (search.agreement: probe inputs
derived from the public asserts, the tied candidate most of the others agree with), runs
the answers that differ on the hidden tests in the sandbox, and prints hidden pass@1 for
both rules side by side, per strategy and budget, with how many problems had a tie to
break. No model is called.

    python benchmarks/bench_agreement.py bench-runs/mbpp50/results.jsonl [more.jsonl ...]
        [--dataset ../shared/datasets/mbpp_v2] [--json out.json]

The rule without agreement is the answer the benchmark chose (its recorded code and
hidden result); with agreement, the tied candidates are probed and the one with the most
agreement wins, the recorded answer keeping any tie that is left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path

from runners.bench.datasets import load_dataset
from runners.testing.evaluator import SandboxEvaluator
from search import agreement
from search.tree import Node
from search.types import Evaluation, Task

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
PREFIXES = {"mbpp/": "mbpp_v2", "HumanEval/": "humaneval_v2", "lbpp/": "lbpp"}


def read_results(path: Path) -> list[dict]:
    """Problem results from a results.jsonl (a torn last line is skipped) or a report JSON."""
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        return [p for run in doc.get("runs", [doc]) for p in run.get("problems", [])]
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def dataset_for(problem_id: str, given: str | None) -> Path:
    if given:
        return Path(given)
    for prefix, name in PREFIXES.items():
        if problem_id.startswith(prefix):
            return DATASETS / name
    raise SystemExit(f"cannot tell the dataset of {problem_id}: pass --dataset")


def candidate_nodes(row: dict) -> list[Node]:
    """The problem's candidates as nodes. The recorded answer gets the smallest runtime, so
    where agreement leaves a tie the plain rule's choice (the recorded answer) stands."""
    nodes = []
    for c in row["extra"]["candidates"]:
        if c["id"] == "baseline":
            continue  # the user's code is not a candidate (dataset problems have none)
        total = 100
        passed = round(c["pass_rate"] * total)
        node = Node(id=c["id"], parent=None, round=c.get("round", 0), code=c["code"])
        node.evaluation = Evaluation(
            verdict=c.get("verdict") or ("passed" if c["all_passed"] else "failed"),
            passed=passed,
            total=total,
            runtime_s=0.0 if c["code"] == row["code"] else 1.0,
        )
        nodes.append(node)
    return nodes


async def judge(task: Task, code: str, evaluator: SandboxEvaluator, cache: dict) -> bool:
    key = (task.id, agreement.code_key(code))
    if key not in cache:
        ev = await evaluator.evaluate(task, code, hidden=True)
        cache[key] = ev.all_passed
    return cache[key]


def cached_probes(evaluator: SandboxEvaluator) -> agreement.ProbeRunner:
    """Probe runs kept per (problem, program): strategies and budgets share many samples
    (the response cache), and a problem's probe inputs are the same in every run."""
    run = agreement.evaluator_probes(evaluator)
    known: dict = {}

    async def cached(task: Task, code: str, probes: list) -> list | None:
        key = (task.id, agreement.code_key(code))
        if key not in known:
            known[key] = await run(task, code, probes)
        return known[key]

    return cached


async def measure(paths: list[Path], dataset: str | None, workers: int) -> dict:
    evaluator = SandboxEvaluator(workers=workers)
    probes = cached_probes(evaluator)
    hidden_cache: dict = {}
    groups: dict[str, dict] = defaultdict(
        lambda: {
            "problems": 0,
            "with_candidates": 0,
            "ties": 0,
            "probed": 0,
            "changed": 0,
            "plain": 0,
            "agreement": 0,
            "details": [],
        }
    )
    tasks: dict[str, Task] = {}
    for path in paths:
        rows = [r for r in read_results(path) if not r.get("error")]
        for row in rows:
            run_name = path.stem if path.suffix == ".json" else path.parent.name or path.name
            group = groups[f"{run_name} {row['strategy']}@{row['budget_calls'] or 'free'}"]
            group["problems"] += 1
            group["plain"] += bool(row["passed_hidden"])
            candidates = (row.get("extra") or {}).get("candidates")
            if not candidates:
                group["agreement"] += bool(row["passed_hidden"])
                continue
            group["with_candidates"] += 1
            if row["id"] not in tasks:
                root = dataset_for(row["id"], dataset)
                tasks.update({t.id: t for t in load_dataset(root, ids=[row["id"]])})
            task = tasks[row["id"]]
            public = Task.from_dict({**task.to_dict(), "hidden_tests": []})
            nodes = candidate_nodes(row)
            report = await agreement.select_by_agreement(public, nodes, probes)
            tie = len(report.tied) > 1 and not report.skipped.startswith(("no tie", "no candidate passes"))
            group["ties"] += tie
            group["probed"] += bool(report.scores)
            chosen = next((n for n in nodes if n.id == report.chosen), None)
            if chosen is None or chosen.code == row["code"]:
                group["agreement"] += bool(row["passed_hidden"])
                continue
            group["changed"] += 1
            passed = await judge(task, chosen.code, evaluator, hidden_cache)
            group["agreement"] += passed
            group["details"].append(
                {
                    "id": row["id"],
                    "plain": bool(row["passed_hidden"]),
                    "agreement": passed,
                    "chosen": report.chosen,
                    "tied": len(report.tied),
                    "scores": report.scores,
                }
            )
            print(
                f"  {row['id']:<16} {row['strategy']}@{row['budget_calls']}: tie of {len(report.tied)}, "
                f"agreement picks {report.chosen} -> hidden {'PASS' if passed else 'fail'} "
                f"(plain answer: {'PASS' if row['passed_hidden'] else 'fail'})",
                file=sys.stderr,
            )
    evaluator.close()
    return dict(groups)


def table(groups: dict) -> str:
    lines = [
        f"{'run':<42} {'problems':>8} {'recorded':>8} {'ties':>5} {'probed':>6} {'changed':>7} "
        f"{'pass@1 plain':>12} {'pass@1 agreement':>16}"
    ]
    total = {
        k: sum(g[k] for g in groups.values())
        for k in ("problems", "with_candidates", "ties", "probed", "changed", "plain", "agreement")
    }
    for name, g in [*groups.items(), *([("all runs", total)] if len(groups) > 1 else [])]:
        n = g["problems"] or 1
        lines.append(
            f"{name:<42} {g['problems']:>8} {g['with_candidates']:>8} {g['ties']:>5} {g['probed']:>6} {g['changed']:>7} "
            f"{g['plain'] / n:>7.1%} ({g['plain']:>2}) {g['agreement'] / n:>10.1%} ({g['agreement']:>2})"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="results.jsonl of `orps bench` runs (or their JSON report)")
    ap.add_argument("--dataset", help="the dataset directory (default: from the problem ids)")
    ap.add_argument("--workers", type=int, default=2, help="sandboxed runs at once")
    ap.add_argument("--json", type=Path, help="also write the figures and the changed problems here")
    args = ap.parse_args()
    missing = [str(p) for p in args.results if not p.is_file()]
    if missing:
        raise SystemExit(f"no such results file: {', '.join(missing)}")
    groups = asyncio.run(measure(args.results, args.dataset, args.workers))
    print(table(groups))
    print(
        "recorded: problems whose candidates the run recorded (extra.candidates; older runs have none); "
        "ties: problems whose best public pass rate (above 0) is shared by two or more different programs; "
        "probed: ties with probe inputs derived from the public asserts; changed: agreement chose another answer"
    )
    if args.json:
        args.json.write_text(json.dumps(groups, indent=1))


if __name__ == "__main__":
    main()
