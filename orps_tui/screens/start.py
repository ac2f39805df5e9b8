"""Start: the project's functions with their tests, a fuzzy filter, the search settings.

Functions come from tree-sitter (every .py outside tests and virtualenvs), tests from
the same static selection `orps solve` uses, so what you see is what the search gets.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from orps_tui.errors import UserError
from search.settings import STRATEGIES, SearchSettings

SKIP_PARTS = {".git", ".venv", "venv", "env", ".tox", "node_modules", ".orps", "__pycache__", "build", "dist"}


def project_functions(project: Path) -> list[tuple[str, str]]:
    """(target, first docstring line) for every function outside the tests."""
    from runners.locate import list_functions

    out = []
    for path in sorted(project.rglob("*.py")):
        rel = path.relative_to(project)
        if any(p in SKIP_PARTS for p in rel.parts) or rel.parts[0] in ("tests", "test") \
                or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        try:
            for qualname, _line, doc in list_functions(path):
                if not qualname.rsplit(".", 1)[-1].startswith("__"):
                    out.append((f"{rel.as_posix()}::{qualname}", doc))
        except (OSError, UnicodeDecodeError):
            continue
    return out


def fuzzy_match(query: str, text: str) -> bool:
    """Every character of the query appears in order (like fzf, without scoring)."""
    it = iter(text.lower())
    return all(ch in it for ch in query.lower().replace(" ", ""))


class StartScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "start", "Start search", priority=True),
        Binding("ctrl+f", "focus_filter", "Filter"),
        Binding("ctrl+r", "app.history", "History"),
    ]

    def __init__(self, target: str | None = None, settings: SearchSettings | None = None):
        super().__init__()
        self.initial_target = target
        self.base_settings = settings
        self.functions: list[tuple[str, str]] = []
        self.target: str | None = target

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="start-body"):
            with Vertical(id="picker"):
                yield Input(placeholder="filter functions (fuzzy)", id="filter")
                yield OptionList(id="functions")
            with Vertical(id="setup"):
                yield Static(id="target-info")
                with Horizontal(classes="form-row"):
                    yield Label("strategy")
                    yield Select([(s, s) for s in STRATEGIES], value="orps", allow_blank=False, id="strategy")
                with Horizontal(classes="form-row"):
                    yield Label("model")
                    yield Input(id="model")
                with Horizontal(classes="form-row"):
                    yield Label("samples/beam/rounds")
                    yield Input(id="samples", type="integer")
                    yield Input(id="beam", type="integer")
                    yield Input(id="rounds", type="integer")
                with Horizontal(classes="form-row"):
                    yield Label("budget (calls)")
                    yield Input(id="budget", type="integer", placeholder="0 = none")
                yield Button("Start search (ctrl+s)", id="start", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        from orps_tui.config import load_config

        try:
            settings = self.base_settings or load_config(self.app.project).settings
        except UserError as err:
            self.notify(err.message, severity="error", timeout=10)
            settings = SearchSettings()
        self.query_one("#strategy", Select).value = settings.strategy
        self.query_one("#model", Input).value = settings.model
        self.query_one("#samples", Input).value = str(settings.samples)
        self.query_one("#beam", Input).value = str(settings.beam)
        self.query_one("#rounds", Input).value = str(settings.rounds)
        self.query_one("#budget", Input).value = str(settings.budget_calls or "")
        self.settings = settings
        self.load_functions()

    @work(thread=True, exclusive=True, group="scan")
    def load_functions(self) -> None:
        functions = project_functions(self.app.project)
        self.app.call_from_thread(self._show_functions, functions)

    def _show_functions(self, functions: list[tuple[str, str]]) -> None:
        self.functions = functions
        self._refilter(self.query_one("#filter", Input).value)
        if not functions:
            self.query_one("#target-info", Static).update("No Python functions found in this project.")

    def _refilter(self, query: str) -> None:
        options = self.query_one("#functions", OptionList)
        options.clear_options()
        for target, doc in self.functions:
            if not query or fuzzy_match(query, target):
                options.add_option(Option(Text.assemble((target, "bold"), "\n  ", (doc[:70], "dim")), id=target))
        if self.initial_target:
            try:
                options.highlighted = options.get_option_index(self.initial_target)
            except Exception:  # noqa: BLE001 - not in the list (filtered out)
                pass

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._refilter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one("#functions", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#functions")
    def _highlight(self, event: OptionList.OptionHighlighted) -> None:
        self.target = event.option.id
        self.describe(self.target)

    @on(OptionList.OptionSelected, "#functions")
    def _select(self, event: OptionList.OptionSelected) -> None:
        self.target = event.option.id
        self.action_start()

    @work(thread=True, exclusive=True, group="describe")
    def describe(self, target: str) -> None:
        from runners.locate import LocateError, locate
        from runners.testselect import NoTestsFound, select_tests

        try:
            located = locate(self.app.project, target)
            try:
                tests = select_tests(self.app.project, located).node_ids
            except NoTestsFound:
                tests = []
        except LocateError as err:
            self.app.call_from_thread(self.query_one("#target-info", Static).update, str(err))
            return
        lines = [Text(target, style="bold"), Text(located.signature, style="cyan"),
                 Text(located.docstring.strip() or "(no docstring: give the problem with --problem-text)"),
                 Text(f"\n{len(tests)} tests selected:" if tests else "\nno tests use this function",
                      style="bold" if tests else "bold red")]
        lines += [Text(f"  {t}") for t in tests[:12]]
        self.app.call_from_thread(self.query_one("#target-info", Static).update, Text("\n").join(lines))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    def _form_settings(self) -> dict:
        def number(widget_id: str) -> int | None:
            value = self.query_one(f"#{widget_id}", Input).value.strip()
            return int(value) if value else None

        return {
            "strategy": self.query_one("#strategy", Select).value,
            "model": self.query_one("#model", Input).value.strip() or None,
            "samples": number("samples"), "beam": number("beam"), "rounds": number("rounds"),
            "budget_calls": number("budget"),
        }

    def action_start(self) -> None:
        from types import SimpleNamespace

        from orps_tui.screens.search import SearchScreen
        from orps_tui.solving import prepare_job

        if not self.target:
            self.notify("Pick a function first.", severity="warning")
            return
        overrides = {**(self.base_settings.to_dict() if self.base_settings else {}),
                     **{k: v for k, v in self._form_settings().items() if v is not None}}
        args = SimpleNamespace(target=self.target, tests=None, k=None, problem_file=None, problem_text=None,
                               problem_mode="append", resume=None)
        try:
            job = prepare_job(self.app.project, args, overrides, evaluator=self.app.evaluator)
        except UserError as err:
            self.notify(err.message + (f"\n{err.hint}" if err.hint else ""), title="Cannot start", severity="error", timeout=10)
            return
        self.app.push_screen(SearchScreen(job))
