"""Helpers for the TUI tests: a tiny project, a scripted model that fixes
it after seeing the failing tests, an in-process evaluator for project tasks, waiting.

The evaluator is `tests.fakes.FakeEvaluator` with each pytest node id of the project
mapped to an assert, so a whole search runs in milliseconds without the sandbox.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from pathlib import Path

from search.providers.scripted import register_script
from search.settings import SearchSettings
from tests.fakes import FakeEvaluator

CALC = '''"""A tiny calculator."""


def add(a, b):
    """Return the sum of a and b."""
    return a - b


def mul(a, b):
    """Return the product of a and b."""
    return a * b
'''

TESTS = """from calc import add, mul


def test_add():
    assert add(1, 2) == 3


def test_add_zero():
    assert add(0, 0) == 0


def test_mul():
    assert mul(2, 3) == 6
"""

ASSERTS = {
    "tests/test_calc.py::test_add": "assert add(1, 2) == 3",
    "tests/test_calc.py::test_add_zero": "assert add(0, 0) == 0",
    "tests/test_calc.py::test_mul": "assert mul(2, 3) == 6",
}

WRONG = "## Reasoning\nSubtract, as the code does.\n\n## Code\n```python\ndef add(a, b):\n    return a - b\n```\n"
RIGHT = (
    "## Reasoning\nThe feedback shows add(1, 2) gave -1: it must add.\n\n"
    '## Code\n```python\ndef add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n```\n'
)
TARGET = "calc.py::add"


def respond(messages, params):
    """Programmer: wrong at first, right once it has seen execution feedback. Critic: scores."""
    user = messages[-1]["content"]
    if messages[0]["content"].startswith("You are a strict code reviewer"):
        return "It subtracts.\nScore: 1/5" if "a - b" in user else "Correct.\nScore: 5/5"
    saw_feedback = "Execution feedback" in user or "Running the tests on the current code gave" in user
    return RIGHT if saw_feedback else WRONG


def make_project(root: Path) -> Path:
    project = root / "calcproj"
    (project / "tests").mkdir(parents=True)
    (project / "calc.py").write_text(CALC)
    (project / "tests" / "test_calc.py").write_text(TESTS)
    register_script("calc", respond)
    return project


def scripted_project(root: Path, *, named_in_config: bool = True) -> Path:
    """`make_project` for an `orps` in another process: the scripted model written out as
    `root/model_script.py` (the model `scripted/<that path>`), named in the project's orps.toml
    unless `named_in_config` is false; the project's pytest finds `calc` from its root."""
    project = make_project(root)
    script = root / "model_script.py"
    script.write_text("\n".join([f"WRONG = {WRONG!r}", f"RIGHT = {RIGHT!r}", "", inspect.getsource(respond)]))
    if named_in_config:
        (project / "orps.toml").write_text(
            f'model = "scripted/{script}"\nsamples = 2\nbeam = 1\nrounds = 2\ncache = false\n'
        )
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return project


def settings(**over) -> SearchSettings:
    # Round 0 samples fresh only (refine_share=0), so the tree has the shape these tests were
    # written for: wrong at round 0, right in round 1 once a refinement saw the feedback.
    base = dict(model="scripted/calc", samples=2, beam=1, rounds=2, concurrency=1, cache=False, refine_share=0.0)
    return SearchSettings(**{**base, **over})


class ProjectFake:
    """FakeEvaluator for project tasks: each pytest node id stands for one assert."""

    def __init__(self, delay: float = 0.0):
        self.inner = FakeEvaluator(delay)

    @property
    def calls(self) -> int:
        return self.inner.calls

    async def evaluate(self, task, code, *, hidden=False):
        ids = list(task.tests)
        ev = await self.inner.evaluate(dataclasses.replace(task, tests=[ASSERTS[i] for i in ids]), code)
        for result, node_id in zip(ev.tests, ids):
            result.id = node_id
        return ev

    async def measure_runtime(self, task, code, repeats=5):
        return await self.inner.measure_runtime(task, code, repeats)


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    """Let the app run until `predicate()` holds (fail with the current screen if it never does)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out; screen is {pilot.app.screen!r}")
        await pilot.pause(0.02)


def shown(app, screen_class) -> bool:
    """The app's screen is a `screen_class` and has been laid out (a screen pushed from a
    thread is the app's screen a moment before it is mounted and sized)."""
    return isinstance(app.screen, screen_class) and bool(screen_text(app).strip())


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text (for assertions and debugging)."""
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())
