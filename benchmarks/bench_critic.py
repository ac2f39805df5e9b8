"""The round critic against the per-node critic on the same nodes: usable scores per call.

For each of the first problems of finished `orps bench` runs (`extra.candidates` in
results.jsonl), up to `--nodes` distinct candidates are run on the public tests (their
execution feedback) and on the hidden tests (whether they are right). The critic model
then reviews them twice: once per node (one call each, the paper's critic) and once for
all of them in one call (search.round_critic). Printed side by side: calls, scores that
could be read, and how often a hidden-correct node was scored above a hidden-wrong one.

    python benchmarks/bench_critic.py bench-runs/mbpp-sweep/results.jsonl --problems 3 --nodes 4 \\
        [--model local/smollm2] [--dataset ../shared/datasets/mbpp_v2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from benchmarks.bench_agreement import dataset_for, read_results
from runners.bench.datasets import load_dataset
from runners.testing.evaluator import SandboxEvaluator
from search import scoring
from search.agreement import code_key
from search.gateway import Budget, Gateway, GatewayConfig
from search.parsing import parse_critic
from search.prompts import critic_messages
from search.round_critic import parse_round_critic, round_critic_messages
from search.tree import Node

CRITIC_MAX_TOKENS = 256


def pick_candidates(row: dict, count: int) -> list[dict]:
    """Distinct programs, the best on the public tests first (a round is a beam's children)."""
    seen, out = set(), []
    for c in sorted(row["extra"]["candidates"], key=lambda c: -c["pass_rate"]):
        key = code_key(c["code"])
        if c["id"] != "baseline" and key not in seen:
            seen.add(key)
            out.append(c)
    return out[:count]


def ordered_right(scores: list[float | None], right: list[bool]) -> tuple[float, int]:
    """Pairs (hidden-right, hidden-wrong): the share the critic scored right above wrong
    (an unreadable score counts as the outcome fallback would: a tie, half), and how many."""
    pairs = [(i, j) for i in range(len(right)) for j in range(len(right)) if right[i] and not right[j]]
    if not pairs:
        return 0.0, 0
    won = sum(1.0 if (scores[i] or 0) > (scores[j] or 0) else 0.5 if scores[i] == scores[j] else 0.0 for i, j in pairs)
    return won / len(pairs), len(pairs)


async def measure(args) -> dict:
    rows = [r for r in read_results(args.results) if (r.get("extra") or {}).get("candidates")]
    chosen: dict[str, dict] = {}
    for row in rows:  # one row per problem: the one with the most distinct candidates
        if (
            len(pick_candidates(row, args.nodes)) > len(pick_candidates(chosen.get(row["id"], row), args.nodes))
            or row["id"] not in chosen
        ):
            chosen[row["id"]] = row
    problems = list(chosen.values())[: args.problems]
    evaluator = SandboxEvaluator(workers=2)
    gateway = Gateway(GatewayConfig(concurrency=1, cache_dir=args.cache), Budget())
    figures = {
        "node": {"calls": 0, "scored": 0, "nodes": 0, "won": 0.0, "pairs": 0, "model_s": 0.0},
        "round": {"calls": 0, "scored": 0, "nodes": 0, "won": 0.0, "pairs": 0, "model_s": 0.0},
    }
    for row in problems:
        task = load_dataset(dataset_for(row["id"], args.dataset), ids=[row["id"]])[0]
        nodes, right = [], []
        for c in pick_candidates(row, args.nodes):
            node = Node(id=c["id"], parent=None, round=c.get("round", 0), code=c["code"])
            node.evaluation = await evaluator.evaluate(task, c["code"])
            node.outcome_score = scoring.outcome_score(node.evaluation)
            nodes.append(node)
            right.append((await evaluator.evaluate(task, c["code"], hidden=True)).all_passed)
        per_node = []
        for node in nodes:
            started = time.perf_counter()
            completion = await gateway.complete(
                args.model, critic_messages(task, node), temperature=0.0, max_tokens=CRITIC_MAX_TOKENS, seed=0
            )
            figures["node"]["model_s"] += time.perf_counter() - started
            per_node.append(parse_critic(completion.text).score)
        started = time.perf_counter()
        completion = await gateway.complete(
            args.model,
            round_critic_messages(task, nodes),
            temperature=0.0,
            max_tokens=min(CRITIC_MAX_TOKENS, 48 * len(nodes) + 32),
            seed=0,
        )
        figures["round"]["model_s"] += time.perf_counter() - started
        per_round = parse_round_critic(completion.text, len(nodes)).scores
        for mode, scores, calls in (("node", per_node, len(nodes)), ("round", per_round, 1)):
            f = figures[mode]
            f["calls"] += calls
            f["nodes"] += len(nodes)
            f["scored"] += sum(s is not None for s in scores)
            won, pairs = ordered_right(scores, right)
            f["won"] += won * pairs
            f["pairs"] += pairs
        print(
            f"{row['id']:<14} nodes {len(nodes)} (hidden-right {sum(right)}): per-node scores {per_node}, "
            f"round scores {per_round}",
            flush=True,
        )
        if args.show:
            print(completion.text)
    evaluator.close()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="results.jsonl of an `orps bench` run")
    ap.add_argument("--problems", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=4, help="candidates per problem (one round)")
    ap.add_argument("--model", default="local/smollm2")
    ap.add_argument("--dataset", help="the dataset directory (default: from the problem ids)")
    ap.add_argument("--cache", default="", help="response cache directory (default: none)")
    ap.add_argument("--show", action="store_true", help="print each round critic answer")
    args = ap.parse_args()
    if not args.results.is_file():
        raise SystemExit(f"no such results file: {args.results}")
    figures = asyncio.run(measure(args))
    print(
        f"{'critic':<8} {'calls':>5} {'nodes':>5} {'usable scores':>14} {'per call':>8} "
        f"{'right above wrong':>18} {'model s':>8}"
    )
    for mode, f in figures.items():
        rate = f["scored"] / f["nodes"] if f["nodes"] else 0.0
        order = f"{f['won'] / f['pairs']:.2f} of {f['pairs']}" if f["pairs"] else "no pairs"
        print(
            f"{mode:<8} {f['calls']:>5} {f['nodes']:>5} {f['scored']:>5} ({rate:>5.0%}) "
            f"{f['scored'] / max(1, f['calls']):>8.2f} {order:>18} {f['model_s']:>8.1f}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
