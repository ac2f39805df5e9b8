"""The start screen's task fields (goal, tests, -k, problem), its keys, and a new target
from the TUI: Pilot with the scripted model and the in-process evaluator."""

from __future__ import annotations

import pytest

from orps_tui.app import make_app
from orps_tui.screens.dialogs import ConfirmScreen
from orps_tui.screens.review import ReviewScreen
from orps_tui.screens.search import SearchScreen
from orps_tui.screens.start import StartScreen
from search.providers.scripted import register_script
from tests.tui_support import TARGET, ProjectFake, make_project, settings, wait_for

SIZE = (120, 36)
TRIPLE = "## Reasoning\nMultiply.\n\n## Code\n```python\ndef triple(x):\n    return 3 * x\n```\n"


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


async def started_on(pilot, target: str = TARGET) -> StartScreen:
    start = pilot.app.screen
    assert isinstance(start, StartScreen)
    await wait_for(pilot, lambda: start.functions and start.target == target)
    return start


def info_text(start: StartScreen) -> str:
    return str(start.query_one("#target-info").content)


def fill(start: StartScreen, **fields: str) -> None:
    for name, value in fields.items():
        start.query_one(f"#{name}").value = value


async def test_the_fields_reach_the_search(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await started_on(pilot)
        fill(start, tests="tests/test_calc.py::test_add", k="", problem="Both arguments are ints.")
        start.query_one("#goal").value = "faster"
        start.query_one("#functions").focus()
        await pilot.press("s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, (SearchScreen, ReviewScreen))
        )  # a quick search ends at once
        job = app.screen.job
        assert job.task.tests == ["tests/test_calc.py::test_add"]
        assert "Both arguments are ints." in job.task.problem
        assert job.settings.goal == "faster" and job.task.goal == "faster"


async def test_the_k_field_selects_tests(project):
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await started_on(pilot)
        fill(start, k="zero")
        start.query_one("#functions").focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, (SearchScreen, ReviewScreen)))
        assert app.screen.job.task.tests == ["tests/test_calc.py::test_add_zero"]


async def test_a_target_given_at_start_is_described_as_existing_and_checked(project, monkeypatch):
    """`orps --target` fills the target before the project scan ends: it must not be taken
    for a new function (it was, and its tests were never checked: found by the stall benchmark
    on a project of 2,000 files, where the scan takes a while; a slow scan stands in for it)."""
    import time

    from orps_tui.screens import start as start_module

    scan = start_module.project_functions
    monkeypatch.setattr(start_module, "project_functions", lambda root: (time.sleep(0.5), scan(root))[1])
    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await started_on(pilot)
        await wait_for(pilot, lambda: TARGET in start.checked)
        assert "new function" not in info_text(start)
        assert "tests selected" in info_text(start)


async def test_down_arrow_leaves_the_filter_into_the_list(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await started_on(pilot, "calc.py::add")
        await pilot.press("slash")
        assert app.focused is start.query_one("#filter")
        await pilot.press("m", "u", "l")
        await pilot.press("down")
        assert app.focused is start.query_one("#functions")
        await wait_for(pilot, lambda: start.target == "calc.py::mul")


async def test_no_tests_says_to_fill_the_tests_field(project):
    (project / "extra.py").write_text('def lonely(x):\n    """Return x."""\n    return x\n')
    app = make_app(project, target="extra.py::lonely", settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await started_on(pilot, "extra.py::lonely")
        start.query_one("#functions").focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: any(n.title == "Cannot start" for n in app._notifications))
        message = next(n.message for n in app._notifications if n.title == "Cannot start")
        assert "no tests" in message and "fill the tests field" in message
        assert "--tests" not in message
        assert isinstance(app.screen, StartScreen)
        await wait_for(pilot, lambda: "fill the tests field" in info_text(start))


async def test_a_new_target_from_the_start_screen(project, monkeypatch):
    """n, a target that does not exist (a new file), its problem and tests: the search
    writes it and the proposal's patch creates the file; accepting writes it."""
    monkeypatch.setitem(
        __import__("tests.tui_support", fromlist=["ASSERTS"]).ASSERTS,
        "tests/test_triple.py::test_triple",
        "assert triple(2) == 6",
    )
    (project / "tests" / "test_triple.py").write_text(
        "from triple import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n"
    )
    register_script(
        "triple", lambda messages, params: "Correct.\nScore: 5/5" if "reviewer" in messages[0]["content"] else TRIPLE
    )
    app = make_app(project, settings=settings(model="scripted/triple", rounds=1), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = await started_on(pilot, "calc.py::add")
        await pilot.press("n")
        assert app.focused is start.query_one("#target")
        for key in "triple.py::triple":
            await pilot.press({":": "colon", ".": "full_stop"}.get(key, key))
        assert start.target == "triple.py::triple" and start.is_new("triple.py::triple")
        fill(start, problem="Return three times x.", tests="tests/test_triple.py")
        await wait_for(pilot, lambda: "new function, in a new file triple.py" in info_text(start))
        start.query_one("#functions").focus()
        start.action_start()
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        assert "Return three times x." in review.job.task.problem
        assert review.best is not None and review.best.all_passed
        patch = review.patch_for(review.best)
        assert patch.startswith("--- /dev/null\n+++ b/triple.py\n") and "+def triple(x):" in patch
        assert not (project / "triple.py").exists()  # nothing written before accepting
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: review.applied)
    assert (project / "triple.py").read_text() == "def triple(x):\n    return 3 * x\n"


async def test_the_function_list_keeps_one_line_per_name_and_docstring_at_80x24(project):
    """Long names and docstrings are cut with an ellipsis at the list's width, never wrapped
    onto extra lines (nor cut at a fixed length when the terminal is wide)."""
    doc = "Add two numbers and return their sum, which is a long description " * 3 + "ENDWORD"
    (project / "long.py").write_text(
        f'def a_function_with_a_rather_long_name_for_the_list(a, b):\n    """{doc}"""\n    return a + b\n'
    )
    from tests.tui_support import screen_text

    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=(80, 24)) as pilot:
        start = pilot.app.screen
        await wait_for(pilot, lambda: isinstance(start, StartScreen) and len(start.functions) >= 2)
        await pilot.pause()
        text = screen_text(app)
        assert "ENDWORD" not in text and "…" in text
        assert text.count("Add two numbers") == 1  # one line: not wrapped
    async with make_app(project, settings=settings(), evaluator=ProjectFake()).run_test(size=(230, 40)) as pilot:
        start = pilot.app.screen
        await wait_for(pilot, lambda: isinstance(start, StartScreen) and len(start.functions) >= 2)
        await pilot.pause()
        line = next(line for line in screen_text(pilot.app).splitlines() if "Add two numbers" in line)
        shown = line[line.index("Add two numbers") :].split("▎")[0].rstrip(" …")
        assert len(shown) > 70  # not cut at a fixed 70 characters, whatever the width
