"""Where one `orps demo --headless --json --seed S` spends its wall time: a timeline of the
model's start and load, each model batch (sent, answered, prompt and completion tokens,
the child's own generation time), each sandbox check, and the gaps where neither ran.

The demo runs in this process (as `python -m orps_tui.cli demo` would); the model
process and the sandbox evaluator are wrapped to note when each call starts and ends.

    python benchmarks/bench_demo_timeline.py [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STARTED = time.perf_counter()
events: list[tuple[float, float, str, str]] = []  # (start, end, kind, what)
_lock = threading.Lock()
sent_batches: list[list[dict[str, Any]]] = []


def now() -> float:
    return time.perf_counter() - STARTED


def note(start: float, end: float, kind: str, what: str) -> None:
    with _lock:
        events.append((start, end, kind, what))


def instrument() -> None:
    from runners.testing.evaluator import SandboxEvaluator
    from search.providers import model_process

    process_init = model_process.ModelProcess.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        started = now()
        process_init(self, *args, **kwargs)

        def wait_ready() -> None:
            self.ready.wait(300)
            note(started, now(), "model", "child started, ready")

        threading.Thread(target=wait_ready, daemon=True).start()

    submit_batch = model_process.ModelProcess.submit_batch
    submit = model_process.ModelProcess.submit

    def watch(calls: list[Any], label: str) -> None:
        sent = now()

        def wait() -> None:
            for call in calls:
                call.wait(600)
            usage = [((c.result or {}).get("usage") or {}) for c in calls]
            prompt = sum(u.get("prompt_tokens", 0) for u in usage)
            completion = [u.get("completion_tokens", 0) for u in usage]
            load = calls[0].load_s or 0.0
            gen = calls[0].gen_s or 0.0
            note(
                sent,
                now(),
                "model",
                f"{label} of {len(calls)}: prompt {prompt} tok, completion {sum(completion)} tok "
                f"{completion}, child load {load:.1f} s, child gen {gen:.1f} s",
            )

        threading.Thread(target=wait, daemon=True).start()

    def batch(self: Any, requests: list[dict[str, Any]]) -> list[Any]:
        sent_batches.append(requests)
        calls = submit_batch(self, requests)
        watch(calls, "batch")
        return calls

    def single(self: Any, request: dict[str, Any]) -> Any:
        call = submit(self, request)
        watch([call], "call")
        return call

    model_process.ModelProcess.__init__ = init  # type: ignore[method-assign]
    model_process.ModelProcess.submit_batch = batch  # type: ignore[method-assign]
    model_process.ModelProcess.submit = single  # type: ignore[method-assign]

    evaluate = SandboxEvaluator.evaluate

    async def timed_evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = now()
        result = await evaluate(self, *args, **kwargs)
        passed = getattr(result, "passed", "?")
        total = getattr(result, "total", "?")
        note(started, now(), "sandbox", f"check: {passed}/{total}")
        return result

    SandboxEvaluator.evaluate = timed_evaluate  # type: ignore[method-assign]


def busy_union(intervals: list[tuple[float, float]]) -> float:
    total, last_end = 0.0, -1.0
    for start, end in sorted(intervals):
        if end <= last_end:
            continue
        total += end - max(start, last_end)
        last_end = end
    return total


def print_nodes(project: Path) -> None:
    """Each node of the run's tree: its completion tokens, whether its answer was cut at the
    token limit, and its check."""
    for tree in sorted((project / ".orps" / "runs").glob("*/tree.json")):
        nodes = json.loads(tree.read_text()).get("nodes") or {}
        for node in sorted(nodes.values() if isinstance(nodes, dict) else nodes, key=lambda n: n["id"]):
            ev = node.get("evaluation") or {}
            cut = "cut at the limit" if "answer was cut off at the token limit" in node.get("notes", []) else ""
            print(
                f"  node {node['id']:>8} {node.get('usage', {}).get('completion_tokens', 0):>4} tok "
                f"{ev.get('passed', '-')}/{ev.get('total', '-')} {ev.get('verdict', '')} {cut}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-batches", default="", help="write the batches' requests to this JSON file")
    parser.add_argument(
        "--nodes", action="store_true", help="also list each node: completion tokens, how its answer ended, its check"
    )
    args = parser.parse_args()
    imports_started = now()
    from orps_tui import cli

    instrument()
    note(imports_started, now(), "start", "imports")
    out = io.StringIO()
    project = Path(tempfile.mkdtemp(prefix="orps-timeline-"))
    started = now()
    with contextlib.redirect_stdout(out):
        cli.main(["demo", "--headless", "--json", "--quiet", "--seed", str(args.seed), "--dir", str(project)])
    finished = now()
    doc = json.loads(out.getvalue() or "{}")
    print(
        f"seed {args.seed}: {doc.get('status')}, calls {(doc.get('usage') or {}).get('calls')}, "
        f"tokens {(doc.get('usage') or {}).get('total_tokens')}, best {(doc.get('best') or {}).get('id')}"
    )
    print(f"{'start s':>8} {'end s':>8} {'took s':>7}  what")
    for start, end, kind, what in sorted(events):
        print(f"{start:8.2f} {end:8.2f} {end - start:7.2f}  {kind}: {what}")
    if args.nodes:
        print_nodes(project)
    if args.save_batches:
        Path(args.save_batches).write_text(json.dumps(sent_batches) + "\n")
    model = busy_union([(s, e) for s, e, k, _ in events if k == "model"])
    sandbox = busy_union([(s, e) for s, e, k, _ in events if k == "sandbox"])
    either = busy_union([(s, e) for s, e, k, _ in events if k in ("model", "sandbox")])
    print(
        f"demo {finished - started:.1f} s after {started:.1f} s of imports; model busy {model:.1f} s, "
        f"sandbox busy {sandbox:.1f} s, either {either:.1f} s, neither {finished - started - either:.1f} s"
    )


if __name__ == "__main__":
    main()
