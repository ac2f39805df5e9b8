"""The review in the TUI (`orps review CHANGE` on a terminal, or `--tui`): the touched
functions with their verdicts in a table, the highlighted function's tests (with the
failure messages) below; `h` opens the change's hunks, to accept them one by one and apply
the accepted ones to the project (the same checked, backed-up apply as `orps apply`)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from orps_tui.app import run_app
from orps_tui.review.report import NEW, UNCHANGED, first_line, runtime, summary, verdict_words
from orps_tui.screens.standalone import OneScreenApp, apply_and_say
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from orps_tui.widgets.node_detail import DiffText
from runners.review.compare import ChangeReview, FunctionReview, Review
from runners.review.hunks import DiffHunk, join_hunks, split_hunks, whole_files

VERDICT_STYLE = {
    "broken": "bold red",
    "fixed": "bold green",
    "passing": "green",
    "failing": "red",
    "untested": "yellow",
    "tests_removed": "yellow",
}
STATUS_STYLE = {
    "broken": "bold red",
    "new_failing": "bold red",
    "failing": "red",
    "fixed": "bold green",
    "passing": "green",
    "new_passing": "green",
    "removed": "yellow",
    "skipped": "yellow",
    "not_run": "yellow",
}


def function_text(change: ChangeReview, f: FunctionReview | None) -> Text:
    """The verdict of `change`, then the tests of `f` with their messages."""
    out = Text()
    out.append(f"{change.name}: {summary(change)}\n", style="bold")
    if change.tests_changed:
        out.append(f"the change modifies tests: {', '.join(change.tests_changed)}\n", style="bold yellow")
    for note in change.notes:
        out.append(f"note: {note}\n", style="yellow")
    if f is None:
        return out
    out.append(
        f"\n{f.target} ({f.kind}): {verdict_words(f)}; runtime {runtime(f)}\n", style=VERDICT_STYLE.get(f.verdict, "")
    )
    if not f.tests:
        out.append("  no test selected for it\n", style="yellow")
    for t in f.tests:
        out.append(f"  {t.status.replace('_', ' ').upper():<12}", style=STATUS_STYLE.get(t.status, ""))
        out.append(f" {t.id}{' (flaky)' if t.flaky else ''}\n")
        if t.changed_message and t.status in ("broken", "new_failing", "failing"):
            out.append(f"               {first_line(t.changed_message)[:200]}\n", style="dim")
    return out


class ReviewScreen(Screen):
    BINDINGS = [Binding("h", "hunks", "Hunks"), Binding("q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    ReviewScreen #functions { height: auto; max-height: 50%; }
    ReviewScreen DataTable { height: auto; }
    ReviewScreen #detail-scroll { height: 1fr; border: round $secondary; padding: 0 1; }
    """

    def __init__(self, project: Path, review: Review, follow_up: dict | None = None):
        super().__init__()
        self.project, self.review, self.follow_up = project, review, follow_up
        self.rows: list[tuple[int, int | None]] = []
        """(change index, function index or None) per table row."""

    def compose(self) -> ComposeResult:
        names = ", ".join(c.name for c in self.review.changes)
        yield TitleBar(f"review {names}")
        yield DataTable(id="functions", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="function-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        several = len(self.review.changes) > 1
        table.add_columns(
            *(["rank", "change"] if several else []),
            "verdict",
            "function",
            "kind",
            "fixed",
            "broken",
            "unchanged",
            "new",
            "runtime",
        )
        for place, ci in enumerate(self.review.ranking, 1):
            change = self.review.changes[ci]
            lead = [str(place), Text(change.name)] if several else []
            if not change.functions:
                self.rows.append((ci, None))
                table.add_row(*lead, Text("no function touched", style="yellow"), *[""] * 7)
                continue
            for fi, f in enumerate(change.functions):
                self.rows.append((ci, fi))
                table.add_row(
                    *lead,
                    Text(verdict_words(f), style=VERDICT_STYLE.get(f.verdict, "")),
                    Text(f.target),
                    f.kind,
                    str(f.count("fixed")),
                    str(f.count("broken")),
                    str(f.count(*UNCHANGED)),
                    str(f.count(*NEW)),
                    runtime(f),
                )
        self.show(0)
        table.focus()

    def show(self, row: int) -> None:
        if not self.rows:
            return
        ci, fi = self.rows[min(max(row, 0), len(self.rows) - 1)]
        change = self.review.changes[ci]
        text = function_text(change, None if fi is None else change.functions[fi])
        if self.follow_up:
            text.append(f"\nfollow-up search on {self.follow_up['target']}: {self.follow_up['status']}\n", style="bold")
            if self.follow_up.get("patch"):
                text.append_text(Text(self.follow_up["patch"]))
        self.query_one("#function-detail", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show(event.cursor_row)

    def current_change(self) -> ChangeReview:
        row = self.query_one(DataTable).cursor_row
        return self.review.changes[self.rows[min(max(row, 0), len(self.rows) - 1)][0]]

    def action_hunks(self) -> None:
        change = self.current_change()
        hunks = split_hunks(change.diff)
        if not hunks:
            self.notify("This change has no hunks to accept.", severity="warning")
            return
        self.app.push_screen(HunkScreen(self.project, change.name, hunks))


def hunk_label(h: DiffHunk) -> str:
    return h.text.splitlines()[0] if h.text else ""


class HunkScreen(Screen):
    """The change's hunks: space accepts or drops the highlighted one, `a` applies the
    accepted ones to the project (checked and backed up, as `orps apply`)."""

    BINDINGS = [
        Binding("space", "toggle", "Accept/drop"),
        Binding("a", "apply", "Apply accepted"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    HunkScreen #hunks { height: auto; max-height: 40%; }
    HunkScreen #hunk-scroll { height: 1fr; border: round $secondary; padding: 0 1; }
    """

    def __init__(self, project: Path, name: str, hunks: list[DiffHunk]):
        super().__init__()
        self.project, self.change_name, self.hunks = project, name, hunks
        self.accepted: set[int] = set()
        self.applied = False

    def compose(self) -> ComposeResult:
        yield TitleBar(f"hunks of {self.change_name}: space accepts, a applies the accepted ones")
        yield DataTable(id="hunks", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="hunk-scroll"):
            yield Static(id="hunk")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("accept", "file", "hunk", "lines")
        for i, h in enumerate(self.hunks):
            note = " (new file)" if h.new_file else " (deletes the file)" if h.deleted else ""
            table.add_row(
                self._mark(i), Text(h.path + note), Text(hunk_label(h)), f"+{h.added} -{h.removed}", key=str(i)
            )
        self._show(0)
        table.focus()

    def _mark(self, i: int) -> Text:
        return Text("[x]", style="bold green") if i in self.accepted else Text("[ ]")

    def _show(self, row: int) -> None:
        if self.hunks:
            h = self.hunks[min(max(row, 0), len(self.hunks) - 1)]
            self.query_one("#hunk", Static).update(DiffText(h.header + h.text))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def action_toggle(self) -> None:  # type: ignore[override]  # this screen's own "toggle" key, not DOMNode's
        table = self.query_one(DataTable)
        i = table.cursor_row
        if i in self.accepted:
            self.accepted.discard(i)
            h = self.hunks[i]
            if h.new_file or h.deleted:  # a created or deleted file goes whole
                self.accepted -= {j for j, o in enumerate(self.hunks) if o.path == h.path}
        else:
            self.accepted = whole_files(self.hunks, self.accepted | {i})
        for j in range(len(self.hunks)):
            table.update_cell(str(j), table.ordered_columns[0].key, self._mark(j))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_apply(self) -> None:
        from orps_tui.screens.dialogs import ConfirmScreen

        if not self.accepted:
            self.notify("No hunk accepted yet: space accepts the highlighted one.", severity="warning")
            return
        if self.applied:
            self.notify("Already applied (undo: orps apply --revert).", severity="warning")
            return
        chosen = [self.hunks[i] for i in sorted(self.accepted)]
        question = Text(
            f"Apply {len(chosen)} of {len(self.hunks)} hunks of {self.change_name} to "
            f"{', '.join(sorted({h.path for h in chosen}))}?\nA backup is kept (undo: orps apply --revert)."
        )
        self.app.push_screen(ConfirmScreen(question), lambda yes: self._apply(join_hunks(chosen)) if yes else None)

    def _apply(self, patch: str) -> None:
        self.applied = apply_and_say(self, self.project, patch) or self.applied


class ReviewApp(OneScreenApp):
    def __init__(self, screen: ReviewScreen):
        super().__init__(screen)
        self.review_screen = screen


def run_review_app(project: Path, review: Review, follow_up: dict | None = None) -> int:
    """Show the review; the exit status is the review's (0 nothing broken, 1 broken), or the
    app's failure status when it failed."""
    from orps_tui.review.report import exit_code

    app = ReviewApp(ReviewScreen(project, review, follow_up))
    status = run_app(app)
    return status if status else exit_code(review)
