"""Review a patch orps did not write (`orps review FILE.diff`): its tests run in the
sandbox on a copy of the project with the patch applied, then per-test results and the
coloured diff (`DiffText`, as on the review screen); accept applies it through the same
safe apply as `orps apply`, with a backup."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from orps_tui.failures import SaysWhy
from orps_tui.screens.standalone import OneScreenApp, apply_and_say
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from orps_tui.widgets.node_detail import DiffText
from search.types import Evaluation, Task

OUTCOME_STYLE = {"passed": "green", "skipped": "yellow", "suspicious": "bold magenta"}


def results_text(task: Task, ev: Evaluation | None, tests_changed: list[str]) -> Text:
    """The verdict, why (tampered / suspicious reasons), and one line per test."""
    if ev is None:
        return Text("running the tests in the sandbox...", style="italic")
    out = Text()
    style = "bold green" if ev.all_passed else "bold red"
    out.append(f"{task.target}: {ev.passed}/{ev.total} passed ({ev.verdict})\n", style=style)
    if tests_changed:
        out.append(f"the patch changes tests: {', '.join(tests_changed)}\n", style="bold yellow")
    if ev.message and not ev.all_passed:
        out.append(ev.message.strip()[:600] + "\n", style="magenta" if ev.verdict == "suspicious" else "")
    for t in ev.tests:
        out.append(f"  {t.outcome.upper():<10}", style=OUTCOME_STYLE.get(t.outcome, "red"))
        out.append(f" {t.id}\n")
        if t.outcome not in ("passed", "skipped") and t.message:
            out.append(f"             {t.message.strip().splitlines()[-1][:160]}\n", style="dim")
    return out


class PatchReviewScreen(SaysWhy, Screen):
    BINDINGS = [Binding("a", "accept", "Accept"), Binding("q", "app.quit", "Quit")]

    def __init__(
        self,
        project: Path,
        task: Task,
        patch_name: str,
        patch: str,
        files: dict[str, str],
        tests_changed: list[str],
        evaluate,
    ):
        super().__init__()
        self.project, self.orps_task, self.patch_name, self.patch = project, task, patch_name, patch
        self.files, self.tests_changed, self.evaluate = files, tests_changed, evaluate
        self.evaluation: Evaluation | None = None
        self.applied = False

    def compose(self) -> ComposeResult:
        yield TitleBar(f"review {self.patch_name}  ({', '.join(sorted(self.files))})")
        with VerticalScroll(id="diff-scroll"):
            yield Static(results_text(self.orps_task, None, self.tests_changed), id="patch-results")
            yield Static(DiffText(self.patch), id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.run_tests()

    @work(exclusive=True, exit_on_error=False)
    async def run_tests(self) -> None:
        self.evaluation = await self.evaluate(self.orps_task, self.files)
        self.query_one("#patch-results", Static).update(
            results_text(self.orps_task, self.evaluation, self.tests_changed)
        )

    def action_accept(self) -> None:
        from orps_tui.screens.dialogs import ConfirmScreen

        if self.applied:
            self.notify("This patch is already applied (undo: orps apply --revert).", severity="warning")
            return
        warnings = []
        if self.evaluation is None:
            warnings.append("The tests have not finished yet.")
        elif not self.evaluation.all_passed:
            warnings.append(f"Its tests did not all pass ({self.evaluation.verdict}).")
        if self.tests_changed:
            warnings.append("It changes tests.")
        question = Text("\n").join(
            [
                Text(f"Apply {self.patch_name} to {', '.join(sorted(self.files))}?"),
                *(Text(w, style="bold") for w in warnings),
                Text("A backup is kept (undo: orps apply --revert)."),
            ]
        )
        self.app.push_screen(ConfirmScreen(question), lambda yes: self._apply() if yes else None)

    def _apply(self) -> None:
        self.applied = apply_and_say(self, self.project, self.patch) or self.applied


class PatchReviewApp(OneScreenApp):
    def __init__(self, screen: PatchReviewScreen):
        super().__init__(screen)
        self.review = screen
