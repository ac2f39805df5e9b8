"""At 80x24 nothing that tells two items apart is cut: long targets that share a prefix are
shortened in the shared part (the directories), not at the end (the function's name)."""

from __future__ import annotations

from orps_tui.app import make_app
from orps_tui.screens.start import StartScreen, fit_target
from tests.tui_support import ProjectFake, screen_text, settings, wait_for

MODULE = '''def normalize_title_case(text):
    """Title Case."""
    return text.title()


def normalize_title_lower(text):
    """lower case."""
    return text.lower()
'''


def test_fit_target_keeps_the_name_and_cuts_the_directories():
    assert fit_target("src/textkit/words.py::slugify_title_case", 28) == "…ords.py::slugify_title_case"
    assert fit_target("calc.py::add", 28) == "calc.py::add"
    assert fit_target("pkg/sub/mod.py::f", 12) == "…/mod.py::f"


async def test_similar_long_names_stay_apart_at_80x24(tmp_path):
    project = tmp_path / "proj"
    package = project / "src" / "averyverylongpackagename" / "subpackage"
    package.mkdir(parents=True)
    (package / "text_normalization.py").write_text(MODULE)
    (project / "tests").mkdir()
    app = make_app(project, settings=settings(), evaluator=ProjectFake())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.scanned)
        await pilot.pause()
        text = screen_text(app)
        listed = [line.split("▊", 1)[1].split("▎", 1)[0].strip() for line in text.splitlines() if "▊" in line]
        assert any(item.endswith("_title_case") for item in listed), text  # the end, not the start
        assert any(item.endswith("_title_lower") for item in listed), text
