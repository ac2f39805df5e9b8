"""The engine's own cost: time per node and memory for a 10,000-node tree.

The model and the evaluator answer instantly (no litellm, no sandbox), so what is left
is the engine: prompts, parsing, scoring, beam selection, events and bookkeeping.
Target: well under 1 ms per node, negligible next to one model call.

    python benchmarks/bench_engine.py [--nodes 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc

from search.engine import Search
from search.events import EventBus
from search.settings import SearchSettings
from search.types import Completion, Evaluation, Task, TestResult, Usage

ANSWER = "## Reasoning\nAdd them.\n\n## Code\n```python\ndef add(a, b):\n    return a + b\n```\n"


class InstantModel:
    """A `ModelClient` that answers at once, without a budget."""

    def __init__(self):
        self.usage = Usage()

    async def complete(self, model, messages, **kwargs) -> Completion:
        text = "Fine.\nScore: 3/5" if "reviewer" in messages[0]["content"] else ANSWER
        c = Completion(text=text, model=model, prompt_tokens=100, completion_tokens=20)
        self.usage.add(c)
        return c

    def calls_left(self) -> int | None:
        return None


class InstantEvaluator:
    async def evaluate(self, task, code, *, hidden=False):
        tests = [TestResult(f"t{i}", "failed" if i == 0 else "passed", "AssertionError: 1 != 2") for i in range(4)]
        return Evaluation("failed", 3, 4, tests, runtime_s=0.001, static={"loc": 2.0})

    async def measure_runtime(self, task, code, repeats=5):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    args = ap.parse_args()
    width = 100
    rounds = args.nodes // width - 1
    task = Task(id="add", problem="Add two numbers.", entry_point="add", tests=["assert add(1, 2) == 3"] * 4)
    settings = SearchSettings(samples=width, beam=10, rounds=rounds, model="instant", critic=True)

    def one_search(trace: bool):
        events = []
        search = Search(task, settings, InstantModel(), InstantEvaluator(), EventBus(events.append))
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        result = asyncio.run(search.run())
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
        return result, search, events, elapsed, peak

    # Timed without tracemalloc (it slows Python down several times), then measured with it.
    result, search, events, elapsed, _ = one_search(trace=False)
    _, _, _, _, peak = one_search(trace=True)
    n = len(result.tree)
    print(f"{n} nodes, {search.gateway.usage.calls} model calls, {len(events)} events in {elapsed:.2f} s")
    print(f"engine overhead: {elapsed / n * 1000:.3f} ms per node (target < 1 ms; a model call takes 100s of ms)")
    print(f"memory: peak {peak / 2**20:.1f} MiB traced for the {n}-node tree ({peak / n / 1024:.1f} KiB per node)")


if __name__ == "__main__":
    main()
