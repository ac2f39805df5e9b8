# Over 400 lines: one screen whose form, list and background checks share its state; the list's helpers are in function_list.py.
"""Start: the project's functions with their tests, a fuzzy filter, the search settings.

Functions come from tree-sitter (every .py outside tests and virtualenvs), tests from
the same static selection `orps solve` uses, so what you see is what the search gets.
Whether a function's tests pass is unknown until checked: the highlighted function is
checked in the background (its code as it is, in the sandbox), `t` checks them all,
and failing functions sort first.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from orps_tui.errors import UserError
from orps_tui.failures import SaysWhy
from orps_tui.screens.function_list import (  # noqa: F401 - defined_names: tests import it from here
    SYNTAX_MARK,
    check_mark,
    defined_names,
    fit_target,
    fuzzy_match,
    project_functions,
)
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from orps_tui.words import tests_selected
from runners.target import Target
from search.settings import STRATEGIES, SearchSettings
from search.types import Task


class FilterInput(Input):
    """The fuzzy filter; down arrow goes on into the function list."""

    BINDINGS = [Binding("down", "screen.focus_functions", "Functions", show=False)]


TESTS_HINT = "fill the tests field with pytest node ids or paths (or the -k field with an expression)"
PROBLEM_HINT = "say what it should do in the problem field"


def tui_hint(err: UserError) -> str:
    """The TUI's hint for a problem with the task: the CLI's hints name flags (`--tests`,
    `--problem-text`) that the start screen offers as fields."""
    from orps_tui.taskbuild import NoProblem, NoTests

    if isinstance(err, NoTests):
        return TESTS_HINT
    if isinstance(err, NoProblem):
        return PROBLEM_HINT
    return err.hint


def split_tests(text: str) -> list[str] | None:
    """The tests field: node ids or paths separated by spaces or commas (None when empty)."""
    tests = [t for t in text.replace(",", " ").split() if t]
    return tests or None


if TYPE_CHECKING:
    from orps_tui.app import OrpsApp


class StartScreen(SaysWhy, Screen):
    AUTO_FOCUS = "#functions"
    """The list, not the first field: a key pressed while the screen appears (q to quit)
    is never typed into the filter."""
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("ctrl+s", "start", "Start", show=False, priority=True),
        Binding("slash,ctrl+f", "focus_filter", "Filter"),
        Binding("n", "new_target", "New"),
        Binding("t", "check_all", "Check tests"),
        Binding("h", "app.history", "History"),
        Binding("q", "app.quit", "Quit"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]
    if TYPE_CHECKING:
        app: OrpsApp  # the app this screen runs in

    def __init__(self, target: str | None = None, settings: SearchSettings | None = None):
        super().__init__()
        self.initial_target = target
        self.base_settings = settings
        self.functions: list[tuple[str, str]] = []
        self.checked: dict[str, tuple[int, int]] = {}
        self.run_problems: dict[str, str] = {}
        """What stops a target's tests from running (as `orps check` says it), by target."""
        self.edited: dict[str, int] = {}
        """Target -> how many of the user's TUI edits are kept for it (marked ✎ in the list)."""
        self.target: str | None = target
        self.described: str | None = None
        self.scanned = False  # until the scan ends, no target can be told existing from new
        self._redescribe: Timer | None = None

    def compose(self) -> ComposeResult:
        yield TitleBar("pick a function to solve, or n for a new one")
        with Horizontal(id="start-body"):
            with Vertical(id="picker"):
                yield FilterInput(placeholder="filter functions (fuzzy)", id="filter")
                yield OptionList(id="functions")
            with Vertical(id="setup"):
                yield VerticalScroll(Static(id="target-info"), id="target-scroll")

                def row(label: str, *widgets):
                    with Horizontal(classes="form-row"):
                        yield Label(label)
                        yield from widgets

                yield from row(
                    "target", Input(id="target", compact=True, placeholder="path/file.py::function (new ones too)")
                )
                yield from row(
                    "goal",
                    Select(
                        [("fix the tests", "fix"), ("faster, same results", "faster")],
                        value="fix",
                        allow_blank=False,
                        id="goal",
                        compact=True,
                    ),
                )
                yield from row(
                    "tests",
                    Input(id="tests", compact=True, placeholder="node ids or paths (default: the tests that use it)"),
                )
                yield from row("-k", Input(id="k", compact=True, placeholder="pytest -k expression"))
                yield from row(
                    "problem",
                    Input(id="problem", compact=True, placeholder="what it should do (added to the docstring)"),
                )
                yield from row(
                    "strategy",
                    Select([(s, s) for s in STRATEGIES], value="orps", allow_blank=False, id="strategy", compact=True),
                )
                yield from row("model", Input(id="model", compact=True))
                yield from row(
                    "samp/beam/rnd",
                    Input(id="samples", type="integer", compact=True),
                    Input(id="beam", type="integer", compact=True),
                    Input(id="rounds", type="integer", compact=True),
                )
                yield from row(
                    "budget (calls)", Input(id="budget", type="integer", placeholder="0 = none", compact=True)
                )
                yield Button("Start search (s)", id="start", variant="primary", compact=True)
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
        self.query_one("#goal", Select).value = settings.goal if settings.goal in ("fix", "faster") else "fix"
        if self.initial_target:
            self.query_one("#target", Input).value = self.initial_target
        self.query_one("#model", Input).value = settings.model
        for name in ("samples", "beam", "rounds"):
            self.query_one(f"#{name}", Input).value = str(getattr(settings, name))
        self.query_one("#budget", Input).value = str(settings.budget_calls or "")
        self.query_one("#target-info", Static).update("Scanning the project for functions...")
        self.query_one("#functions", OptionList).focus()
        self.load_functions()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def load_functions(self) -> None:
        from orps_tui.edits import edited_targets

        functions = project_functions(self.app.project)
        edited = edited_targets(self.app.project)
        self.app.call_from_thread(self._show_functions, functions, edited)

    def _show_functions(self, functions: list[tuple[str, str]], edited: dict[str, int] | None = None) -> None:
        self.functions = functions
        self.edited = edited or {}
        self.scanned = True
        self._refilter(self.query_one("#filter", Input).value)
        if not functions:
            self.query_one("#target-info", Static).update("No Python functions found in this project.")
        if self.target and self.described != self.target:  # typed or given before the scan ended
            self.described = self.target
            self.describe(self.target)

    def on_screen_resume(self) -> None:
        """Back from a review: the ✎ marks follow the edits kept or dropped there."""
        if not self.scanned:
            return
        from orps_tui.edits import edited_targets

        edited = edited_targets(self.app.project)
        if edited != self.edited:
            self.edited = edited
            self._refilter(self.query_one("#filter", Input).value)

    # -- the list ----------------------------------------------------------------------------
    def _prompt(self, target: str, doc: str) -> Text:
        # one line each, cut with an ellipsis at the list's width (not wrapped, not cut at a fixed length)
        if doc.startswith(SYNTAX_MARK):  # stays listed, marked, with the file and line to fix
            shown = fit_target(target, self.query_one("#functions", OptionList).content_size.width - 6)
            prompt = Text.assemble(
                ("✗syn ", "bold red"), (shown, "bold"), "\n     ", (doc[len(SYNTAX_MARK) :][:300], "red")
            )
            prompt.no_wrap, prompt.overflow = True, "ellipsis"
            return prompt
        edited = self.edited.get(target)
        shown = fit_target(target, self.query_one("#functions", OptionList).content_size.width - 6 - bool(edited))
        prompt = Text.assemble(
            check_mark(self.checked.get(target)),
            ("✎" if edited else "", "bold magenta"),
            (shown, "bold"),
            "\n     ",
            (doc[:300], "dim"),
        )
        prompt.no_wrap, prompt.overflow = True, "ellipsis"
        return prompt

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

    @on(Input.Submitted, "#setup Input")
    def _field_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field of the form starts the search, as the Start button does."""
        event.stop()
        self.action_start()

    def action_leave_field(self) -> None:
        """Esc in a field goes back to the function list, where the screen's keys (q, s, n,
        ...) work again; typed text stays."""
        if isinstance(self.focused, (Input, Select)):
            self.query_one("#functions", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#functions")
    def _highlight(self, event: OptionList.OptionHighlighted) -> None:
        self._set_target(event.option.id)
        target_input = self.query_one("#target", Input)
        if target_input.value != self.target:
            with target_input.prevent(Input.Changed):
                target_input.value = self.target or ""

    @on(OptionList.OptionSelected, "#functions")
    def _select(self, event: OptionList.OptionSelected) -> None:
        self._set_target(event.option.id)
        self.action_start()

    @on(Input.Changed, "#target")
    def _target_typed(self, event: Input.Changed) -> None:
        self._set_target(event.value.strip() or None)

    @on(Input.Changed, "#tests, #k, #problem")
    def _selection_typed(self) -> None:
        if self.target:  # what the search would get changes: describe it again (debounced)
            if self._redescribe is not None:
                self._redescribe.stop()
            self._redescribe = self.set_timer(0.6, lambda: self.describe(self.target))

    def _set_target(self, target: str | None) -> None:
        if target == self.target and target == self.described:
            return
        self.target = target
        if target and self.scanned:  # before that _show_functions describes it
            self.described = target
            self.describe(target)

    def is_new(self, target: str) -> bool:
        """A target that is not one of the project's functions: the search writes it."""
        return target not in dict(self.functions)

    def action_focus_functions(self) -> None:
        self.query_one("#functions", OptionList).focus()

    def action_new_target(self) -> None:
        """A function (or file) that does not exist yet: type its target, problem and tests."""
        target = self.query_one("#target", Input)
        target.value = ""
        target.focus()
        self.query_one("#target-info", Static).update(
            Text.assemble(
                ("A new function or file\n", "bold"),
                "Type its target (path/to/file.py::name: a missing file becomes a new file, a missing function "
                "is added to its module), say what it should do in the problem field, and name the tests that "
                "will check it in the tests field (they may import it before it exists). Then s starts the search; "
                "the proposed patch creates the function.",
            )
        )

    # -- the selected target ------------------------------------------------------------------
    def _request(self, target: str) -> dict:
        """The form's task fields as `SolveRequest` fields, for `target`."""
        value = {name: self.query_one(f"#{name}", Input).value.strip() for name in ("tests", "k", "problem")}
        return {
            "tests": split_tests(value["tests"]),
            "k": value["k"] or None,
            "problem_text": value["problem"] or None,
            "new": self.is_new(target),
        }

    def _build(self, target: str, request: dict | None = None) -> tuple[Task | None, str]:
        """The task the search would get for `target` (blocking: run it in a thread), or why
        there is none (with the TUI's hint)."""
        from orps_tui.taskbuild import build_task

        try:
            return build_task(self.app.project, target, goal="fix", **(request or {}))[0], ""
        except UserError as err:
            hint = tui_hint(err)
            return None, err.message + (f"\n{hint}" if hint else "")

    async def _check(
        self,
        target: str,
        built: tuple[Task | None, str] | None = None,
    ) -> tuple[list[str], tuple[int, int] | None, str]:
        """Build the task (as the search would) and run its tests on the code as it is, in the
        app's one evaluator (off the event loop)."""
        if built is None:
            built = await asyncio.to_thread(self._build, target)
        task, problem = built
        if task is None:
            return [], None, problem
        if target not in self.checked:
            ev = await self.app.get_evaluator(self.settings).evaluate(task, task.original_code)
            self._mark(target, (ev.passed, ev.total))
            from orps_tui.taskbuild import run_problem

            self.run_problems[target] = run_problem(ev)
        return task.tests, self.checked.get(target), ""

    def canonical(self, target: str) -> str:
        """`target` as the command line reads it: a path relative to where orps was started
        (`./calc.py::add`, `../pkg/mod.py::f`) or a dotted module (`pkg.mod::f`, also under
        src/) becomes the project's `path/file.py::name`; a target that is not found stays
        as typed (a new one, or a typo the panel names)."""
        from orps_tui.config import target_in_project
        from runners.code.locate import LocateError, locate

        typed = target_in_project(self.app.project, target.strip())
        try:
            located = locate(self.app.project, typed)
        except (LocateError, OSError, ValueError):
            return typed
        return str(Target(located.path, located.qualname))

    def _adopt(self, target: str) -> None:
        """Use the canonical form of the typed target (in the field too)."""
        self.target = self.described = target
        field = self.query_one("#target", Input)
        if field.value.strip() != target:
            with field.prevent(Input.Changed):
                field.value = target

    @work(exclusive=True, group="describe", exit_on_error=False)
    async def describe(self, target: str) -> None:
        from runners.code.locate import LocateError, SourceSyntaxError, locate, new_target

        info = self.query_one("#target-info", Static)
        if not Target.looks_like(target):
            info.update(Text("A target looks like path/to/file.py::function or path::Class.method.", style="yellow"))
            return
        typed, target = target, await asyncio.to_thread(self.canonical, target)
        if target != typed:
            self._adopt(target)
        request = self._request(target)
        custom = bool(request["tests"] or request["k"])
        try:
            located = await asyncio.to_thread(locate, self.app.project, target)
            head = [
                Text(target, style="bold"),
                Text(located.signature, style="cyan"),
                Text(located.docstring.strip() or "(no docstring: give the problem field)"),
            ]
            if target != typed:
                head.insert(1, Text(f"(typed as {typed})", style="dim"))
        except LocateError as err:
            if isinstance(err, SourceSyntaxError):
                # the file does not parse: say where, never "a new function" or a test file's fault
                info.update(
                    Text("\n").join(
                        [
                            Text(target, style="bold"),
                            Text(str(err), style="bold red"),
                            Text("Fix the file (its tests cannot import it), then t checks again."),
                        ]
                    )
                )
                return
            try:
                await asyncio.to_thread(new_target, self.app.project, target)
                note = ""
            except LocateError as err:  # a close name exists: say so, the user may have mistyped
                note = (
                    f"\n{str(err).split(' (if ')[0]}; starting anyway writes "  # keeps "did you mean"
                    f"{Target.qualname_of(target)} as new."
                )
            where = Target.path_of(target)
            kind = "added to" if (self.app.project / where).is_file() else "in a new file"
            head = [
                Text(target, style="bold"),
                Text(f"new function, {kind} {where}{note}", style="yellow"),
                Text(request["problem_text"] or "(say what it should do in the problem field)"),
            ]
        info.update(Text("\n").join([*head, Text("\nchecking its tests...", style="dim")]))
        if custom or self.is_new(target):  # checked with the fields as they are; not cached in the list
            task, problem = await asyncio.to_thread(self._build, target, request)
            result = None
            if task is not None:
                ev = await self.app.get_evaluator(self.settings).evaluate(task, task.original_code)
                result = (ev.passed, ev.total)
                from orps_tui.taskbuild import run_problem

                self.run_problems[target] = run_problem(ev)
            tests = task.tests if task else []
        else:
            tests, result, problem = await self._check(target)
        if problem:
            lines = [*head, Text(f"\n{problem}", style="bold red")]
        else:
            state = "pass" if result and result[0] == result[1] else "fail"
            summary = f"\n{tests_selected(len(tests))}" + (f", {result[0]}/{result[1]} pass now" if result else "")
            lines = [*head, Text(summary, style="bold green" if state == "pass" else "bold red")]
            if self.run_problems.get(target):  # the same words as `orps check`
                lines.append(Text(self.run_problems[target], style="red"))
            if self.edited.get(target):
                lines.append(
                    Text(
                        f"✎ {self.edited[target]} of your edits kept for it (until applied or discarded): "
                        "the review of a search or of a past run of it (h) lists them",
                        style="magenta",
                    )
                )
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
        targets = [target for target, _ in self.functions]
        built = await asyncio.to_thread(lambda: [self._build(target) for target in targets])  # one thread
        # All at once: the app's one evaluator runs as many as there are cores, on one snapshot.
        await asyncio.gather(*(self._check(target, b) for target, b in zip(targets, built)))
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
            "goal": self.query_one("#goal", Select).value,
            "strategy": self.query_one("#strategy", Select).value,
            "model": self.query_one("#model", Input).value.strip() or None,
            "samples": number("samples"),
            "beam": number("beam"),
            "rounds": number("rounds"),
            "budget_calls": number("budget"),
        }

    def action_start(self) -> None:
        if not self.target:
            self.notify("Pick a function first (or n for a new one).", severity="warning")
            return
        overrides = {
            **(self.base_settings.to_dict() if self.base_settings else {}),
            **{k: v for k, v in self._form_settings().items() if v is not None},
        }
        self.app.start_search(self.target, overrides, **self._request(self.target))
