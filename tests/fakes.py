"""Test doubles: an in-process evaluator for dataset-style tasks (trusted code only).

The engine tests use it to prove the algorithm in milliseconds; the real sandbox is
tested on its own in test_sandbox_*.py and end to end in test_solve_*.py.
"""

from __future__ import annotations

import asyncio

from search.types import Evaluation, Task, TestResult


class FakeEvaluator:
    """Runs a candidate module and each assert in-process; counts its calls."""

    def __init__(self, delay: float = 0.0):
        self.calls = 0
        self.delay = delay

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False) -> Evaluation:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        tests = task.hidden_tests if hidden else task.tests
        namespace: dict = {}
        try:
            exec(compile(code, "solution.py", "exec"), namespace)
        except Exception as err:  # noqa: BLE001
            return Evaluation(verdict="error", total=len(tests), message=f"{type(err).__name__}: {err}")
        results = []
        for i, test in enumerate(tests):
            try:
                exec(test, dict(namespace))
                results.append(TestResult(f"test_{i}", "passed"))
            except AssertionError:
                results.append(TestResult(f"test_{i}", "failed", f"AssertionError: {test}"))
            except Exception as err:  # noqa: BLE001
                results.append(TestResult(f"test_{i}", "failed", f"{type(err).__name__}: {err} in {test}"))
        passed = sum(r.outcome == "passed" for r in results)
        return Evaluation(
            verdict="passed" if passed == len(tests) else "failed",
            passed=passed,
            total=len(tests),
            tests=results,
            runtime_s=0.001,
            static={"loc": len(code.splitlines())},
            isolation="in-process (test fake)",
        )

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        return None  # an in-process run has no stable runtime: the first measurement stands
