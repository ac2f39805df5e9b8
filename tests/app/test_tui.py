"""The TUI driven by Pilot: every screen and key binding, with the scripted model and an
in-process evaluator (no sandbox, no network), on a tiny project in a temp directory."""

from __future__ import annotations

import pytest

from orps_tui.app import make_app
from orps_tui.screens.dialogs import CompareScreen, ConfirmScreen, MessageScreen
from orps_tui.screens.history import HistoryScreen
from orps_tui.screens.review import ReviewScreen, coloured_diff
from orps_tui.screens.search import SearchScreen
from orps_tui.screens.start import StartScreen, fuzzy_match
from orps_tui.widgets.nodes import NodeDetail, NodeTable, node_order
from search.providers.scripted import register_script
from search.store import list_runs
from search.tree import ORIGINAL_ID
from tests.tui_support import CALC, TARGET, ProjectFake, make_project, screen_text, settings, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def solving_app(project, evaluator=None, **over):
    return make_app(
        project, target=TARGET, settings=settings(**over), evaluator=evaluator or ProjectFake(), headless_start=True
    )


async def to_review(pilot) -> ReviewScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.pause()
    return pilot.app.screen


async def test_full_search_to_accepted_patch(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        assert review.best is not None and review.best.all_passed
        search = app.screen_stack[-2]
        assert isinstance(search, SearchScreen) and search.state == "solved"
        assert search.query_one(NodeTable).row_count == 5  # original + 2 per round
        assert "+    return a + b" in screen_text(app) and "-    return a - b" in screen_text(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: review.applied)
        assert isinstance(app.screen, ReviewScreen)  # no modal to dismiss first
        applied = [n for n in app._notifications if n.title == "Applied"]
        assert "+1 -1 lines" in applied[0].message and "Undo with: u (or orps apply --revert)" in applied[0].message
        assert "Backup: .orps/backups/" in applied[0].message
        assert "APPLIED" in screen_text(app)
        await pilot.press("a")  # a second accept is refused, nothing is written twice
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
    assert "return a + b" in (project / "calc.py").read_text()
    assert list((project / ".orps" / "backups").iterdir())
    assert list_runs(project)[0].meta()["applied"] == review.best.id


async def test_accept_then_no_and_reject_leave_the_file(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
    assert (project / "calc.py").read_text() == CALC
    assert list_runs(project)[0].meta()["rejected"] is True


async def test_live_table_detail_tabs_and_status(project):
    app = solving_app(project)
    app.auto_review = False
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.result is not None)
        search = app.screen
        table = search.query_one(NodeTable)
        rows = [table.get_row_at(i)[1] for i in range(table.row_count)]
        # the beam (1) kept the original (0-0 and 0-1 are no better): round 1 refined it
        assert [r.plain for r in rows] == ["● original", "└ 1-0", "└ 1-1", "0-0", "0-1"]
        assert [str(r.style) for r in rows] == ["", "", "", "dim", "dim"]  # pruned by the beam
        assert table.best_id == "1-0" and str(table.get_cell("1-0", "best")) == "★"
        status = screen_text(app)
        assert "solved" in status and "5 evaluated" in status and "calls" in status and "tokens" in status
        table.move_cursor(row=3)  # to 0-0, a failing node
        await pilot.pause()
        detail = search.query_one(NodeDetail)
        assert detail.node_id == "0-0"
        for tab, expected in [
            ("tab-feedback", "✗ tests/test_calc.py::test_add"),
            ("tab-reasoning", "Subtract"),
            ("tab-critique", "process score 1/5"),
            ("tab-code", "return a - b"),
        ]:
            detail.active = tab
            await pilot.pause()
            assert expected in screen_text(app), tab
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("escape")  # back to the search screen, which can open the review again
        await wait_for(pilot, lambda: app.screen is search)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("s")  # the search tree again, from the review
        await wait_for(pilot, lambda: app.screen is search)


async def test_review_has_the_search_screens_tabs(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        detail = review.query_one(NodeDetail)
        assert detail.node_id == "1-0" and "+    return a + b" in screen_text(app)
        for tab, expected in [
            ("tab-feedback", "✓ tests/test_calc.py::test_add"),
            ("tab-reasoning", "it must add"),
            ("tab-critique", "process score 5/5"),
            ("tab-diff", "+    return a + b"),
        ]:
            detail.active = tab
            await pilot.pause()
            assert expected in screen_text(app), tab
        await pilot.press("p")  # the tabs follow the selected node
        await pilot.pause()
        detail.active = "tab-reasoning"
        await pilot.pause()
        assert detail.node_id != "1-0" and "it must add" not in screen_text(app)


@pytest.mark.parametrize("key", ["ctrl+c", "escape", "c"])
async def test_cancel_mid_search_keeps_what_was_found(project, key):
    evaluator = ProjectFake(delay=0.3)
    app = solving_app(project, evaluator=evaluator, rounds=4)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.evaluated >= 2)
        search = app.screen
        await pilot.press(key)
        review = await to_review(pilot)
        assert search.state == "cancelled" and review.status == "cancelled"
        assert evaluator.calls < 10  # stopped well before the 4 rounds' worth
    run = list_runs(project)[0]
    assert run.meta()["status"] == "interrupted"
    assert run.read("tree.json")["nodes"]


async def test_resume_from_history_finishes_the_same_run(project):
    evaluator = ProjectFake(delay=0.3)
    app = solving_app(project, evaluator=evaluator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.evaluated >= 2)
        await pilot.press("ctrl+c")
        await to_review(pilot)
    run = list_runs(project)[0]
    assert run.meta()["status"] == "interrupted"

    app = make_app(project, evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        assert "interrupted" in screen_text(app)
        await pilot.press("r")
        review = await to_review(pilot)
        assert review.best is not None and review.best.all_passed
        assert app.screen_stack[-2].job.run.id == run.id
    assert run.meta()["status"] == "finished"


async def test_make_app_resumes_a_run_by_id(project):
    evaluator = ProjectFake(delay=0.3)
    app = solving_app(project, evaluator=evaluator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.evaluated >= 2)
        await pilot.press("ctrl+c")
        await to_review(pilot)
    run_id = list_runs(project)[0].id
    app = make_app(project, evaluator=ProjectFake(), run_id=run_id, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        assert review.status == "solved"


async def test_history_opens_a_finished_run_compare_and_next(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot)
    app = make_app(project, evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, StartScreen)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        text = screen_text(app)
        assert "finished" in text and "100%" in text and "calc.py::add" in text
        await pilot.press("enter")
        review = await to_review(pilot)
        assert review.selected.id == "1-0"
        await pilot.press("n")
        assert review.selected.id == "1-1"
        await pilot.press("p", "p")
        assert review.selected is review.original and review.selected.id == ORIGINAL_ID
        assert "showing original" in screen_text(app) and "baseline" not in screen_text(app)
        await pilot.press("n", "n")  # 1-1: compare with the best
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert {app.screen.left.id, app.screen.right.id} == {"1-0", "1-1"}
        await pilot.press("escape")
        await pilot.press("n", "m", "p", "d")  # mark 0-0, compare it with 1-1
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert (app.screen.left.id, app.screen.right.id) == ("0-0", "1-1")
        assert "return a - b" in screen_text(app) and "return a + b" in screen_text(app)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.screen is review)
        await pilot.press("s")  # opened from the history: the stored tree, read-only
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        table = app.screen.query_one(NodeTable)
        assert table.row_count == 5 and table.best_id == "1-0" and app.screen.state == "solved"
        await wait_for(pilot, lambda: "round 2 of 2" in screen_text(app))
        assert "calls 8 of" in screen_text(app)  # the stored usage, not a fresh count
        await pilot.press("v")  # back to the same review
        await wait_for(pilot, lambda: app.screen is review)
        await pilot.press("escape")  # back to the history the review was opened from
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        await pilot.press("escape")
        assert isinstance(app.screen, StartScreen)


async def test_history_refuses_to_resume_a_finished_run(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert any("only interrupted" in n.message for n in app._notifications)


async def test_start_screen_filter_check_and_start(project):
    (project / "util.py").write_text('def shout(s):\n    """Upper-case s."""\n    return s.upper()\n')
    (project / "tests" / "test_util.py").write_text(
        "from util import shout\n\ndef test_shout():\n    assert shout('a') == 'A'\n"
    )
    from tests.tui_support import ASSERTS

    ASSERTS["tests/test_util.py::test_shout"] = "assert shout('a') == 'A'"
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = app.screen
        assert isinstance(start, StartScreen)
        await wait_for(pilot, lambda: len(start.functions) == 3)
        assert {t for t, _ in start.functions} == {"calc.py::add", "calc.py::mul", "util.py::shout"}
        await pilot.press("t")  # check all: the failing function sorts first
        await wait_for(pilot, lambda: len(start.checked) == 3)
        await pilot.pause()
        assert start.checked == {"calc.py::add": (1, 2), "calc.py::mul": (1, 1), "util.py::shout": (1, 1)}
        assert screen_text(app).index("✗1/2 calc.py::add") < screen_text(app).index("calc.py::mul")
        await pilot.press("slash")
        await pilot.press(*"shts")  # typed into the filter, not taken as key bindings
        await pilot.pause()
        assert start.query_one("#filter").value == "shts"
        assert start.target == "util.py::shout"
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"add", "enter")
        await wait_for(pilot, lambda: start.target == "calc.py::add")
        await wait_for(pilot, lambda: "2 tests selected" in screen_text(app))
        assert "tests/test_calc.py::test_add_zero" in screen_text(app)
        start.query_one("#samples").value = "3"
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, (SearchScreen, ReviewScreen)))
        assert app.screen_stack[2].job.settings.samples == 3
        await to_review(pilot)


async def test_start_screen_enter_starts_and_errors_are_notifications(project):
    (project / "nodoc.py").write_text("def bare(x):\n    return x\n")
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = app.screen
        await wait_for(pilot, lambda: len(start.functions) == 3)
        await pilot.press("/", *"bare", "enter")
        await wait_for(pilot, lambda: start.target == "nodoc.py::bare")
        await pilot.press("enter")  # no docstring, no tests: refused with a message, no crash
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        assert any(n.title == "Cannot start" for n in app._notifications)
        start.query_one("#filter").value = "cadd"
        await wait_for(pilot, lambda: start.target == "calc.py::add")
        start.query_one("#functions").focus()
        await pilot.press("enter")  # Enter on a function starts the search
        await to_review(pilot)


async def test_edit_rechecks_the_edited_candidate(project):
    app = solving_app(project)
    edited = "def add(a, b):\n    return b + a\n"
    app.edit_text = lambda text, name="": edited
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        await pilot.press("E")  # $EDITOR
        await wait_for(pilot, lambda: review.selected.id == "edit-1")
        assert review.selected.all_passed and "return b + a" in screen_text(app)
        assert any("Your edit: passed, 2/2" in n.message for n in app._notifications)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: review.applied)
    assert "return b + a" in (project / "calc.py").read_text()


async def test_edit_without_a_terminal_is_a_notification(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot)
        await pilot.press("E")  # $EDITOR, headless: the app cannot suspend
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert any("Could not run the editor" in n.message for n in app._notifications)


async def test_changed_test_file_marks_the_proposal_stale_and_rechecks(project):
    evaluator = ProjectFake()
    app = solving_app(project, evaluator=evaluator)
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        assert {p.name for p in review.watched_files()} == {"calc.py", "test_calc.py"}
        await wait_for(pilot, lambda: review.watcher is not None)  # started in a thread with the screen
        path = project / "tests" / "test_calc.py"
        path.write_text(path.read_text() + "\n# touched\n")
        await wait_for(pilot, lambda: review.stale and review.rechecks == 1, timeout=10)
        assert "STALE" in screen_text(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "stale" in screen_text(app)


async def test_command_palette_lists_screen_bindings(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Accept", "Reject", "Edit", "Compare", "History", "Quit"} <= titles


async def test_light_theme_and_small_terminal(project):
    app = solving_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "textual-light"
        review = await to_review(pilot)
        # The footer and the diff render a moment after the screen appears (slower under load).
        await wait_for(pilot, lambda: "a Accept" in screen_text(app) and "+    return a + b" in screen_text(app))
        assert review.best.id == "1-0"


def test_helpers():
    assert fuzzy_match("slgfy", "src/textkit/words.py::slugify")
    assert not fuzzy_match("zz", "slugify")
    assert sorted(["1-10", "baseline", "1-2", "0-3"], key=node_order) == ["baseline", "0-3", "1-2", "1-10"]
    diff = coloured_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
    assert [s.style for s in diff.spans] == ["bold", "bold", "cyan", "red", "green"]


async def test_accept_yes_then_q_quits_at_once_with_exit_0(project):
    app = solving_app(project)
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: review.applied)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0
    assert "return a + b" in (project / "calc.py").read_text()


def _critic_or(answer: str):
    def respond(messages, params):
        if messages[0]["content"].startswith("You are a strict code reviewer"):
            return "Reviewed.\nScore: 2/5"
        return answer

    return respond


async def test_unsolved_review_opens_on_the_original_without_a_star(project):
    from search.providers.scripted import register_script
    from tests.tui_support import WRONG

    register_script("calc-wrong", _critic_or(WRONG))
    app = solving_app(project, model="scripted/calc-wrong")
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        assert review.status == "unsolved" and not review.proposed
        assert review.selected is review.original
        text = screen_text(app)
        assert "no candidate beats the original" in text and "showing original" in text
        assert "★" not in text and "Nothing to apply" in text
        search = app.screen_stack[-2]
        assert search.query_one(NodeTable).best_id is None


async def test_review_shows_a_signature_change(project):
    from search.providers.scripted import register_script

    changed = (
        "## Reasoning\nAdd, with an optional third term.\n\n## Code\n```python\n"
        "def add(a, b, c=0):\n    return a + b + c\n```\n"
    )
    register_script("calc-sig", _critic_or(changed))
    app = solving_app(project, model="scripted/calc-sig")
    async with app.run_test(size=SIZE) as pilot:
        review = await to_review(pilot)
        assert review.proposed and review.selected is review.best
        await wait_for(pilot, lambda: "INTERFACE CHANGE" in screen_text(app))
        text = screen_text(app)
        assert "before: def add(a, b):" in text and "after:  def add(a, b, c=0):" in text


def test_cli_progress_and_apply_call_the_unmodified_node_original(project, capsys):
    import io

    from orps_tui.cli import run_command
    from orps_tui.commands.solve import ProgressPrinter
    from search.events import Event

    stream = io.StringIO()
    ProgressPrinter(stream)(
        Event("node_evaluated", {"node": ORIGINAL_ID, "verdict": "failed", "passed": 1, "total": 2, "runtime_s": None})
    )
    assert "node original" in stream.getvalue() and "baseline" not in stream.getvalue()
    code = run_command(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            TARGET,
            "--model",
            "scripted/calc",
            "--samples",
            "2",
            "--rounds",
            "1",
            "--no-cache",
            "--quiet",
            "--json",
        ]
    )
    assert code in (0, 1)
    capsys.readouterr()
    run_id = list_runs(project)[0].id
    code = run_command(["apply", "--project", str(project), "--run", run_id, "--node", "original", "--dry-run"])
    err = capsys.readouterr().err
    assert code != 0 and "node original changes nothing" in err


async def test_check_tests_again_uses_the_files_as_they_are_now(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        start = app.screen
        await wait_for(pilot, lambda: len(start.functions) == 2)
        await pilot.press("t")
        await wait_for(pilot, lambda: len(start.checked) == 2)
        assert start.checked["calc.py::add"] == (1, 2)
        (project / "calc.py").write_text(CALC.replace("return a - b", "return a + b"))  # fixed on disk
        await pilot.press("t")
        await wait_for(pilot, lambda: start.checked.get("calc.py::add") == (2, 2))
        await wait_for(pilot, lambda: "✓2/2 calc.py::add" in screen_text(app))


async def test_an_unknown_scripted_model_is_refused_before_the_search(project):
    app = solving_app(project, model="scripted/no-such-script")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: any("unknown model 'scripted/no-such-script'" in n.message for n in app._notifications)
        )
        assert not isinstance(app.screen, SearchScreen) and not list_runs(project)


async def test_a_model_error_exits_3_with_one_line(project):
    import io

    def rejected(messages, params):
        raise PermissionError("the provider rejected the api key")

    register_script("bad-key", rejected)
    app = solving_app(project, model="scripted/bad-key")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
        await wait_for(pilot, lambda: "The search stopped" in screen_text(app))
        assert "Traceback" not in screen_text(app)
        await pilot.press("enter", "q")
        await pilot.pause()
    stream = io.StringIO()
    assert app.report_exit(stream) == 3 and app.exit_status == 3
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("orps: ") and "bad-key" in lines[0] and "Traceback" not in stream.getvalue()


async def test_an_unexpected_exception_exits_70_without_a_traceback_on_screen(project, monkeypatch):
    import io
    from pathlib import Path

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(ReviewScreen, "action_mark", broken)
    app = solving_app(project)
    with pytest.raises(RuntimeError, match="boom"):  # run_test re-raises it for tests; `orps` does not
        async with app.run_test(size=SIZE) as pilot:
            await to_review(pilot)
            await pilot.press("m")
            await pilot.pause()
    assert app.exit_status == 70 and not app._exit_renderables  # Textual prints no traceback
    stream = io.StringIO()
    assert app.report_exit(stream) == 70
    assert stream.getvalue().splitlines()[0] == "orps: internal error: RuntimeError: boom"
    assert "Traceback" not in stream.getvalue()
    assert "raise RuntimeError" in Path(app.crash_log).read_text()
    Path(app.crash_log).unlink()


async def test_palette_has_one_quit_and_the_theme_is_remembered(project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Quit") == 1 and "History" in titles and "Check tests" in titles
        assert app.theme != "textual-light"
        app.theme = "textual-light"
        await pilot.pause()
    assert '"theme": "textual-light"' in (tmp_path / "config" / "orps" / "tui.json").read_text()
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-light"


async def test_an_unwritable_config_dir_only_forgets_the_theme(project, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("not a directory")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
        assert app.is_running


def test_wrapped_diff_lines_keep_their_marker():
    from rich.console import Console

    from orps_tui.widgets.nodes import DiffText

    long_add = "+    return " + " + ".join(f"term{i}" for i in range(12))
    long_del = "-    x = " + "y" * 50
    patch = f"--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f():\n{long_del}\n{long_add}\n"
    console = Console(width=24, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(DiffText(patch))
    rows = capture.get().splitlines()
    deleted = [r for r in rows if r.startswith("-") and not r.startswith("---")]
    added = [r for r in rows if r.startswith("+") and not r.startswith("+++")]
    assert len(deleted) >= 3 and len(added) >= 3  # wrapped onto several rows, each marked
    assert "".join(r[1:] for r in added).replace(" ", "") == long_add[1:].replace(" ", "")  # nothing lost
    assert all(len(r) <= 24 for r in rows) and " def f():" in rows
    assert str(DiffText(patch)) == patch


async def test_detail_pane_grows_for_long_code_and_shrinks_back():
    """The pane skips the screen's layout only while old and new content both fit."""
    from textual.app import App
    from textual.widgets import Static

    from search.tree import Node

    class DetailApp(App):
        def compose(self):
            yield NodeDetail()

    short = [Node(id=f"s{i}", parent=None, round=0, code=f"def f():\n    return {i}\n") for i in range(2)]
    long = Node(id="long", parent=None, round=0, code="def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(60)))
    app = DetailApp()
    async with app.run_test(size=(80, 24)) as pilot:
        detail = app.query_one(NodeDetail)
        code = detail.query_one("#code", Static)
        room = code.parent.scrollable_content_region.height
        for node in (short[0], short[1], long, short[0]):
            detail.show(node)
            await pilot.pause()
            if node is long:
                assert code.size.height >= 61 > room  # scrollable to the last line
                code.parent.scroll_end(animate=False)
                await pilot.pause()
                assert "x59 = 59" in screen_text(app)
            else:
                assert code.size.height == room and f"return {node.id[1]}" in screen_text(app)


@pytest.mark.parametrize("crash", [False, True])
def test_orps_command_returns_the_apps_exit_status(project, monkeypatch, capsys, crash):
    """`orps` (no command) runs the app and returns its status: 0, or 70 with one line."""
    import sys

    from orps_tui.app import OrpsApp
    from orps_tui.cli import run_command

    def fake_run(app):
        if crash:
            app.crash, app.crash_log = RuntimeError("boom"), "crash.log"

    monkeypatch.setattr(OrpsApp, "run", fake_run)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    code = run_command(["--project", str(project)])
    err = capsys.readouterr().err
    assert code == (70 if crash else 0)
    assert err == (
        "orps: internal error: RuntimeError: boom\nhint: this is a bug in orps; the traceback is in crash.log\n"
        if crash
        else ""
    )
