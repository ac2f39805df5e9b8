"""`orps --target FILE::FUNC`, `orps FILE::FUNC` and `orps --run RUN-ID`: the TUI opened
where the user asks (Pilot, scripted model, in-process evaluator)."""

from __future__ import annotations

import pytest

from orps_tui.cli import build_parser, main
from orps_tui.commands.tui import tui_app
from orps_tui.screens.review import ReviewScreen
from orps_tui.screens.start import StartScreen
from search.store import list_runs
from tests.tui_support import TARGET, ProjectFake, make_project, screen_text, shown, wait_for

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def app_for(argv: list[str], project):
    """What `orps ARGV` would open in `project`, with the test evaluator."""
    parser = build_parser()
    if argv and "::" in argv[0]:
        argv = ["--target", *argv]
    args = parser.parse_args([*argv, "--project", str(project)])
    app = tui_app(args)
    app.evaluator = ProjectFake()
    return app


@pytest.mark.parametrize("argv", [["--target", TARGET], [TARGET]])
async def test_target_opens_the_start_screen_with_its_tests(project, argv):
    app = app_for(argv, project)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, StartScreen)
        # the description is redrawn when the check marks the list: wait for the final one
        await wait_for(
            pilot,
            lambda: (
                "2 tests selected, 1/2 pass now" in screen_text(app)
                and "tests/test_calc.py::test_add_zero" in screen_text(app)
            ),
        )
        assert "tests/test_calc.py::test_add " in screen_text(app)
        assert app.screen.target == TARGET


async def test_run_opens_that_runs_review(project):
    from orps_tui.app import make_app
    from tests.tui_support import settings

    app = make_app(project, target=TARGET, settings=settings(), evaluator=ProjectFake(), headless_start=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
    run_id = list_runs(project)[0].id
    app = app_for(["--run", run_id[:12]], project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: shown(app, ReviewScreen))
        assert app.screen.job.run.id == run_id
        assert "+    return a + b" in screen_text(app)


def test_bad_run_or_target_is_one_line_before_the_tui(project, capsys):
    assert main(["--run", "nope", "--project", str(project)]) == 2
    assert capsys.readouterr().err.startswith("orps: no run nope")
    assert main(["--target", "calc.py", "--project", str(project)]) == 2
    assert "must look like" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--target", TARGET, "runs"])
    assert exc.value.code == 2
