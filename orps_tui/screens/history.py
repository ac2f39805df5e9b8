"""History: past runs of this project; open one to review it, resume an interrupted one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from orps_tui.failures import SaysWhy
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from search.store import run_rows

if TYPE_CHECKING:
    from orps_tui.app import OrpsApp

RESUMABLE = ("interrupted", "stale", "running", "error")


def open_run(app, run_id: str, *, resume: bool = False) -> None:
    """Review a stored run in `app`, or resume it (the same run directory continues).
    The run's files are read in a thread: a large tree must not freeze the screen."""
    app.run_worker(
        lambda: _load_run(app, run_id, resume), thread=True, group="open-run", exclusive=True, exit_on_error=False
    )


def _load_run(app, run_id: str, resume: bool) -> None:
    from orps_tui.errors import UserError
    from orps_tui.screens.review import ReviewScreen
    from orps_tui.solving import job_from_run
    from search.scoring import best_node
    from search.tree import ORIGINAL_ID, SearchTree

    def notify(message: str) -> None:
        app.call_from_thread(app.notify, message, severity="error")

    try:
        job = job_from_run(app.project, run_id, resume=resume, evaluator_for=app.get_evaluator)
    except UserError:
        notify(f"Run {run_id} cannot be opened (no task stored).")
        return
    except (OSError, ValueError, TypeError, KeyError) as err:
        notify(f"Run {run_id} cannot be opened: {err}")
        return
    if resume:
        app.call_from_thread(app.start_job, job)
        return
    try:
        tree = SearchTree.from_dict(job.run.read("tree.json") or {})
    except (OSError, ValueError, TypeError, KeyError) as err:
        notify(f"Run {run_id} cannot be opened: {err}")
        return
    candidates = [n for n in tree if n.id != ORIGINAL_ID]
    status = (job.run.read("result.json") or {}).get("status") or job.run.meta().get("status", "unknown")
    app.call_from_thread(app.push_screen, ReviewScreen(job, tree, best_node(candidates), tree.get(ORIGINAL_ID), status))


class HistoryScreen(SaysWhy, Screen):
    if TYPE_CHECKING:
        app: OrpsApp  # the app this screen runs in

    BINDINGS = [
        Binding("enter", "open", "Review"),
        Binding("r,u", "resume", "Resume"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield TitleBar("past runs")
        yield Static(
            "Past runs of this project, newest first. Enter reviews a run; r resumes an interrupted one.",
            id="history-help",
            classes="status",
        )
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "run", "target", "status", "result", "best", "applied", "calls", "cost"
        )  # what tells runs apart first: 80 columns cut the cost, not the target
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.loaded = False
        self.load_rows()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def load_rows(self) -> None:
        """Read the runs in a thread (one JSON file or more per run, up to 200 runs: a file
        walk that must not freeze the screen), then fill the table on the event loop."""
        from orps_tui.applied import with_applied

        rows = with_applied(self.app.project, run_rows(self.app.project, 200))
        self.app.call_from_thread(self._fill, rows)

    loaded = False
    """True once the table holds the runs read by the latest reload."""

    def _fill(self, rows: list[dict]) -> None:
        self.loaded = True
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            rate = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            cost = "-" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
            # DataTable reads a plain str as markup: a target or status is shown literally
            table.add_row(
                *(
                    Text(str(cell))
                    for cell in (
                        row["id"],
                        row["target"],
                        row["status"],
                        row["result"],
                        rate,
                        "yes" if row["applied"] else "-",
                        row["calls"] or "-",
                        cost,
                    )
                ),
                key=row["id"],
            )
        if not table.row_count:
            self.query_one("#history-help", Static).update(
                "No runs yet in this project. Start one from the start screen."
            )
        table.focus()

    def _current(self) -> tuple[str, str] | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert key is not None  # every row is added with its run's id as key
        return key, str(table.get_cell(key, table.ordered_columns[2].key).plain)  # the status

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        current = self._current()
        if current:
            open_run(self.app, current[0])

    def action_resume(self) -> None:
        current = self._current()
        if current is None:
            return
        run_id, status = current
        if status not in RESUMABLE:
            self.notify(f"Run {run_id} is {status}; only interrupted runs can be resumed.", severity="warning")
            return
        open_run(self.app, run_id, resume=True)
