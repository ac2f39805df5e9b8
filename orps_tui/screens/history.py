"""History: past runs of this project; open a finished one to review, resume an interrupted one."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from orps_tui.commands.runs import run_rows


def open_run(app, run_id: str, *, resume: bool = False) -> None:
    """Review a stored run (or resume it) in `app`."""
    from orps_tui.screens.review import ReviewScreen
    from orps_tui.screens.search import SearchScreen
    from orps_tui.solving import SolveJob, make_evaluator
    from search.scoring import best_node
    from search.settings import SearchSettings
    from search.store import find_run
    from search.tree import SearchTree
    from search.types import Task

    run = find_run(app.project, run_id)
    if run is None or not run.read("task.json"):
        app.notify(f"Run {run_id} cannot be opened (no task stored).", severity="error")
        return
    task = Task.from_dict(run.read("task.json"))
    settings = SearchSettings.from_dict(run.read("settings.json") or {})
    original = run.file("original_file.txt")
    evaluator = app.evaluator or make_evaluator(settings)
    job = SolveJob(app.project, task, settings, run, evaluator, original.read_text() if original.exists() else "",
                   resume=resume)
    if resume:
        app.push_screen(SearchScreen(job))
        return
    tree = SearchTree.from_dict(run.read("tree.json") or {})
    candidates = [n for n in tree if n.id != "baseline"]
    status = (run.read("result.json") or {}).get("status") or run.meta().get("status", "unknown")
    app.push_screen(ReviewScreen(job, tree, best_node(candidates), tree.get("baseline"), status))


class HistoryScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Review"),
        Binding("u", "resume", "Resume"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Past runs of this project (newest first). Enter reviews a run; u resumes an interrupted one.",
                     classes="status")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "status", "result", "pass", "calls", "cost", "target")
        for row in run_rows(self.app.project, 200):
            rate = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            cost = "-" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
            table.add_row(row["id"], row["status"], row["result"], rate, str(row["calls"] or "-"), cost,
                          row["target"], key=row["id"])
        if not table.row_count:
            self.query_one(Static).update("No runs yet in this project. Start one from the start screen.")

    def _current(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        run_id = self._current()
        if run_id:
            open_run(self.app, run_id)

    def action_resume(self) -> None:
        run_id = self._current()
        if run_id:
            open_run(self.app, run_id, resume=True)
