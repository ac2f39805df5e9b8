"""Start: the project's functions with their tests, a fuzzy filter, the search settings.

Functions come from tree-sitter (every .py outside tests and virtualenvs), tests from
the same static selection `orps solve` uses, so what you see is what the search gets.
Whether a function's tests pass is unknown until checked: the highlighted function is
checked in the background (its code as it is, in the sandbox), `t` checks them all,
and failing functions sort first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from orps_tui.errors import UserError
from orps_tui.widgets.header import TitleBar
from search.settings import STRATEGIES, SearchSettings

def project_functions(project: Path) -> list[tuple[str, str]]:
    """(target, first docstring line) for every function outside the tests."""
    from runners.locate import list_functions
    from runners.projectfiles import ProjectFiles

    out = []
    files = ProjectFiles(project).walk().files  # the one ignore list (.gitignore, venvs, [tool.orps] exclude)
    for rel in sorted(Path(f) for f in files if f.endswith(".py")):
        path = project / rel
        if rel.parts[0] in ("tests", "test") or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        try:
            for qualname, _line, doc in list_functions(path):
                if not qualname.rsplit(".", 1)[-1].startswith("__"):
                    out.append((f"{rel.as_posix()}::{qualname}", doc))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
    return out


def fuzzy_match(query: str, text: str) -> bool:
    """Every character of the query appears in order (like fzf, without scoring)."""
    it = iter(text.lower())
    return all(ch in it for ch in query.lower().replace(" ", ""))


def check_mark(result: tuple[int, int] | None) -> Text:
    """✗ 1/3 for failing tests, ✓ 3/3 for passing, · for not checked yet."""
    if result is None:
        return Text("  ·  ", style="dim")
    passed, total = result
    if total == 0:
        return Text("  -  ", style="dim")
    ok = passed == total
    return Text(f"{'✓' if ok else '✗'}{passed}/{total}".ljust(5), style="green" if ok else "bold red")


class StartScreen(Screen):
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("ctrl+s", "start", "Start", show=False, priority=True),
        Binding("slash,ctrl+f", "focus_filter", "Filter"),
        Binding("t", "check_all", "Check tests"),
        Binding("h", "app.history", "History"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, target: str | None = None, settings: SearchSettings | None = None):
        super().__init__()
        self.initial_target = target
        self.base_settings = settings
        self.functions: list[tuple[str, str]] = []
        self.checked: dict[str, tuple[int, int]] = {}
        self.target: str | None = target

    def compose(self) -> ComposeResult:
        yield TitleBar("pick a function to solve")
        with Horizontal(id="start-body"):
            with Vertical(id="picker"):
                yield Input(placeholder="filter functions (fuzzy)", id="filter")
                yield OptionList(id="functions")
            with Vertical(id="setup"):
                yield VerticalScroll(Static(id="target-info"), id="target-scroll")
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
                yield Button("Start search (s)", id="start", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        from orps_tui.config import load_config

        try:
            settings = self.base_settings or load_config(self.app.project).settings
        except UserError as err:
            self.notify(err.message, title="Settings", severity="error", timeout=10)
            settings = SearchSettings()
        self.settings = settings
        self.query_one("#strategy", Select).value = settings.strategy if settings.strategy in STRATEGIES else "orps"
        self.query_one("#model", Input).value = settings.model
        for name in ("samples", "beam", "rounds"):
            self.query_one(f"#{name}", Input).value = str(getattr(settings, name))
        self.query_one("#budget", Input).value = str(settings.budget_calls or "")
        self.query_one("#target-info", Static).update("Scanning the project for functions...")
        self.query_one("#functions", OptionList).focus()
        self.load_functions()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def load_functions(self) -> None:
        functions = project_functions(self.app.project)
        self.app.call_from_thread(self._show_functions, functions)

    def _show_functions(self, functions: list[tuple[str, str]]) -> None:
        self.functions = functions
        self._refilter(self.query_one("#filter", Input).value)
        if not functions:
            self.query_one("#target-info", Static).update("No Python functions found in this project.")

    # -- the list ----------------------------------------------------------------------------
    def _prompt(self, target: str, doc: str) -> Text:
        return Text.assemble(check_mark(self.checked.get(target)), (target, "bold"), "\n     ", (doc[:70], "dim"))

    def _order(self, target: str) -> int:
        result = self.checked.get(target)
        if result is None:
            return 1
        return 0 if result[0] < result[1] else 2

    def _refilter(self, query: str) -> None:
        options = self.query_one("#functions", OptionList)
        keep = self.target
        options.clear_options()
        shown = [(t, d) for t, d in self.functions if not query or fuzzy_match(query, t)]
        shown.sort(key=lambda item: self._order(item[0]))  # stable: failing first, then file order
        options.add_options([Option(self._prompt(t, d), id=t) for t, d in shown])
        wanted = keep or self.initial_target
        if wanted and any(t == wanted for t, _ in shown):
            options.highlighted = options.get_option_index(wanted)
        elif shown:
            options.highlighted = 0

    def _mark(self, target: str, result: tuple[int, int]) -> None:
        self.checked[target] = result
        options = self.query_one("#functions", OptionList)
        doc = dict(self.functions).get(target, "")
        try:
            options.replace_option_prompt(target, self._prompt(target, doc))
        except Exception:  # noqa: BLE001 - filtered out of the list right now
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

    # -- the selected target ------------------------------------------------------------------
    async def _check(self, target: str) -> tuple[list[str], tuple[int, int] | None, str]:
        """Build the task (as the search would) and run its tests on the code as it is."""
        from orps_tui.taskbuild import build_task

        try:
            task, _ = await asyncio.to_thread(build_task, self.app.project, target, goal="fix")
        except UserError as err:
            return [], None, err.message
        if target not in self.checked:
            evaluator = self.app.get_evaluator(self.settings)
            ev = await evaluator.evaluate(task, task.original_code)
            self._mark(target, (ev.passed, ev.total))
        return task.tests, self.checked.get(target), ""

    @work(exclusive=True, group="describe", exit_on_error=False)
    async def describe(self, target: str) -> None:
        from runners.locate import LocateError, locate

        info = self.query_one("#target-info", Static)
        try:
            located = await asyncio.to_thread(locate, self.app.project, target)
        except LocateError as err:
            info.update(str(err))
            return
        head = [Text(target, style="bold"), Text(located.signature, style="cyan"),
                Text(located.docstring.strip() or "(no docstring: the search needs a problem statement)")]
        info.update(Text("\n").join([*head, Text("\nchecking its tests...", style="dim")]))
        tests, result, problem = await self._check(target)
        if problem:
            lines = [*head, Text(f"\n{problem}", style="bold red")]
        else:
            state = "pass" if result and result[0] == result[1] else "fail"
            summary = f"\n{len(tests)} tests selected" + (f", {result[0]}/{result[1]} pass now" if result else "")
            lines = [*head, Text(summary, style="bold green" if state == "pass" else "bold red")]
            lines += [Text(f"  {t}") for t in tests[:12]]
            if len(tests) > 12:
                lines.append(Text(f"  ... and {len(tests) - 12} more", style="dim"))
        info.update(Text("\n").join(lines))

    @work(exclusive=True, group="check-all", exit_on_error=False)
    async def action_check_all(self) -> None:
        """Check every function's tests (in the sandbox) with the files as they are now, then
        sort failing ones first."""
        self.notify(f"Checking the tests of {len(self.functions)} functions...")
        self.checked.clear()  # earlier results are stale after an apply or an edit on disk
        for target, _ in list(self.functions):
            await self._check(target)
        self._refilter(self.query_one("#filter", Input).value)
        failing = sum(1 for r in self.checked.values() if r[0] < r[1])
        self.notify(f"Checked: {failing} functions have failing tests (listed first).")

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    # -- start ----------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    def _form_settings(self) -> dict:
        def number(widget_id: str) -> int | None:
            value = self.query_one(f"#{widget_id}", Input).value.strip()
            return int(value) if value.lstrip("-").isdigit() else None

        return {
            "strategy": self.query_one("#strategy", Select).value,
            "model": self.query_one("#model", Input).value.strip() or None,
            "samples": number("samples"), "beam": number("beam"), "rounds": number("rounds"),
            "budget_calls": number("budget"),
        }

    def action_start(self) -> None:
        if not self.target:
            self.notify("Pick a function first.", severity="warning")
            return
        overrides = {**(self.base_settings.to_dict() if self.base_settings else {}),
                     **{k: v for k, v in self._form_settings().items() if v is not None}}
        self.app.start_search(self.target, overrides)
