"""The review in the TUI: the touched functions with their verdicts, a function's tests,
and hunk-by-hunk acceptance. Built from a review made here (no sandbox run)."""

from __future__ import annotations

import pytest

from orps_tui.review.screen import HunkScreen, ReviewApp, ReviewScreen
from runners.code.patch import make_patch
from runners.review.compare import ChangeReview, FunctionReview, Review, TestChange
from tests.support import until

BASE = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(12)).rstrip() + "\n"
CHANGED = BASE.replace("return x + 1\n", "return x - 1\n").replace("return x + 10\n", "return x * 10\n")


def _review(project) -> Review:
    diff = make_patch("m.py", BASE, CHANGED)
    broken = TestChange(
        "tests/test_m.py::test_f1",
        "broken",
        "passed",
        "failed",
        changed_message="E       assert 0 == 2\nE        +  where 0 = f1(1)",
    )
    kept = TestChange("tests/test_m.py::test_f10", "passing", "passed", "passed", base_s=0.001, changed_s=0.001)
    functions = [
        FunctionReview("m.py", "f1", "changed", "broken", "unknown", [broken]),
        FunctionReview("m.py", "f10", "changed", "passing", "same", [kept], 0.001, 0.001),
    ]
    change = ChangeReview("main..feature", "main", "feature", ["m.py"], [], diff, 4, functions, [], [], 1, 2)
    return Review([change], [0], 1)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "m.py").write_text(BASE)
    return tmp_path


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).content)


async def test_the_table_lists_touched_functions_and_the_detail_follows_the_cursor(project):
    app = ReviewApp(ReviewScreen(project, _review(project)))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            lambda: isinstance(app.screen, ReviewScreen) and app.screen.query_one("#functions").row_count == 2,
            what="the table of touched functions",
        )
        table = app.screen.query_one("#functions")
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == ["broken", "passing"]
        assert [str(table.get_row_at(i)[1]) for i in range(2)] == ["m.py::f1", "m.py::f10"]
        await until(lambda: "tests/test_m.py::test_f1" in _text(app, "#function-detail"), what="f1's tests")
        assert "assert 0 == 2" in _text(app, "#function-detail")
        await pilot.press("down")
        await until(
            lambda: "tests/test_m.py::test_f10" in _text(app, "#function-detail"), what="f10's tests after down"
        )
        assert "test_f1\n" not in _text(app, "#function-detail")


async def test_accepting_one_hunk_applies_only_that_hunk(project):
    app = ReviewApp(ReviewScreen(project, _review(project)))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, ReviewScreen), what="the review screen")
        await pilot.press("h")
        await until(lambda: isinstance(app.screen, HunkScreen), what="the hunk screen")
        hunks = app.screen
        assert len(hunks.hunks) == 2
        await pilot.press("down")  # the second hunk: f10
        await until(lambda: "x * 10" in _text(app, "#hunk"), what="the second hunk shown")
        await pilot.press("space")
        await until(lambda: hunks.accepted == {1}, what="the second hunk accepted")
        await pilot.press("a")
        await until(lambda: app.screen is not hunks, what="the confirmation")
        await pilot.press("y")
        await until(lambda: hunks.applied, what="the apply")
    text = (project / "m.py").read_text()
    assert "return x * 10" in text and "return x + 1\n" in text  # only the accepted hunk
    assert (project / ".orps" / "backups").is_dir()


async def test_apply_with_nothing_accepted_writes_nothing(project):
    app = ReviewApp(ReviewScreen(project, _review(project)))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, ReviewScreen), what="the review screen")
        await pilot.press("h")
        await until(lambda: isinstance(app.screen, HunkScreen), what="the hunk screen")
        await pilot.press("a")
        await until(lambda: app._notifications, what="the warning")  # noqa: SLF001
        assert isinstance(app.screen, HunkScreen)
    assert (project / "m.py").read_text() == BASE
