"""A syntax error in the code is blamed on its file and line, and the functions of that file
stay in the list, marked, instead of disappearing (or the test file being blamed)."""

from __future__ import annotations

import pytest

from orps_tui.app import make_app
from orps_tui.screens.start import SYNTAX_MARK, StartScreen, defined_names, project_functions
from tests.tui_support import CALC, ProjectFake, make_project, screen_text, settings, wait_for

SIZE = (140, 36)
BROKEN = CALC.replace("    return a - b", "    return a - (b")  # line 7: the add function's body


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path)
    (project / "calc.py").write_text(BROKEN)
    return project


def test_the_broken_files_functions_stay_listed_with_the_error(project):
    listed = dict(project_functions(project))
    assert set(listed) == {"calc.py::add", "calc.py::mul"}
    assert all(doc.startswith(SYNTAX_MARK) and "calc.py:" in doc and "syntax error" in doc for doc in listed.values())


def test_names_read_from_the_lines_skip_nested_functions():
    text = "def a():\n  x = (\nclass C:\n    def m(self):\n        def inner(): pass\n    async def n(self): pass\n"
    assert defined_names(text) == ["a", "C.m", "C.n"]


async def test_the_panel_names_the_file_and_line_not_the_tests(project):
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.scanned)
        await wait_for(pilot, lambda: "syntax error" in screen_text(app) and "Fix the file" in screen_text(app))
        text = screen_text(app)
        assert "calc.py::add" in text and "calc.py::mul" in text and "✗syn" in text
        assert "calc.py:" in text and "test_calc.py" not in text and "new function" not in text
