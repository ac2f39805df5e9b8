"""The Textual application: pick a target, watch the search, review and apply the patch.

`make_app` is shared by the CLI (`orps`, `orps solve`, `orps demo`) and the tests, so
what the tests drive is exactly what users run.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding

from orps_tui.solving import SolveJob
from search.settings import SearchSettings
from search.types import Evaluator


class OrpsApp(App):
    CSS_PATH = "orps.tcss"
    TITLE = "orps"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+r", "history", "History (runs)", priority=True),
    ]

    def __init__(self, project: Path, *, target: str | None = None, settings: SearchSettings | None = None,
                 job: SolveJob | None = None, evaluator: Evaluator | None = None, review_run: str | None = None):
        super().__init__()
        self.project = Path(project).resolve()
        self.initial_target = target
        self.settings = settings
        self.job = job
        self.evaluator = evaluator
        self.review_run = review_run
        self.sub_title = str(self.project)

    def on_mount(self) -> None:
        from orps_tui.screens.history import open_run
        from orps_tui.screens.search import SearchScreen
        from orps_tui.screens.start import StartScreen

        self.push_screen(StartScreen(self.initial_target, self.settings))
        if self.job is not None:
            self.push_screen(SearchScreen(self.job))
        elif self.review_run:
            open_run(self, self.review_run)

    def action_history(self) -> None:
        from orps_tui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("History", "Past runs of this project", self.action_history)
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.description:
                action = binding.action

                def run(action=action) -> None:
                    self.run_action(action, screen)

                yield SystemCommand(binding.description, f"{binding.description} ({binding.key})", run)


def make_app(project: Path, *, target: str | None = None, settings: SearchSettings | None = None,
             job: SolveJob | None = None, evaluator: Evaluator | None = None, run_id: str | None = None,
             resume: bool = False, review_run: str | None = None) -> OrpsApp:
    """The app for `project`; with `job`, it starts on that search right away."""
    return OrpsApp(project, target=target, settings=settings, job=job, evaluator=evaluator, review_run=review_run)
