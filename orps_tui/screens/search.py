"""The search screen: the tree of nodes live, the selected node's details, progress.

The search runs in an async Textual worker on the app's event loop; the engine's events
arrive as messages, so the UI never blocks and never touches widgets from a thread.
Cancelling stops the search cleanly: the engine keeps what it found and the run is saved
as interrupted (resumable from the history screen or `orps solve --resume`).
"""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState

from orps_tui.solving import SolveJob, finish_result
from orps_tui.widgets.nodes import NodeDetail, NodeTable
from search.events import Event, EventBus
from search.gateway import ModelError
from search.tree import SearchTree


class SearchEvent(Message):
    def __init__(self, event: Event):
        super().__init__()
        self.event = event


class SearchScreen(Screen):
    BINDINGS = [
        Binding("ctrl+c", "cancel", "Cancel search", priority=True),
        Binding("c", "cancel", "Cancel search", show=False),
        Binding("v", "review", "Review"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, job: SolveJob):
        super().__init__()
        self.job = job
        self.search_tree: SearchTree | None = None
        self.usage: dict = {}
        self.round = 0
        self.evaluated = 0
        self.started = time.monotonic()
        self.finished_doc: dict | None = None
        self.result = None
        self.state = "starting"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status", classes="status")
        with Horizontal(id="search-body"):
            yield NodeTable(id="nodes")
            yield NodeDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_status)
        self.refresh_status()
        self.run_search()

    @work(exclusive=True, group="search", exit_on_error=False)
    async def run_search(self):
        bus = EventBus(lambda e: self.post_message(SearchEvent(e)))
        self.state = "running"
        return await self.job.execute(bus, on_tree=self._set_tree)

    def _set_tree(self, tree: SearchTree) -> None:
        self.search_tree = tree

    @on(SearchEvent)
    def handle_event(self, message: SearchEvent) -> None:
        event = message.event
        table = self.query_one(NodeTable)
        if event.kind in ("node_created", "node_evaluated", "node_critiqued", "node_reused") and self.search_tree is not None:
            node = self.search_tree.get(event.data["node"])
            if node is not None:
                table.upsert(node)
                table.mark_best(self.search_tree)
                detail = self.query_one(NodeDetail)
                if detail.node_id in (None, node.id):
                    detail.show(node, self.job.task)
        if event.kind == "node_evaluated":
            self.evaluated += 1
        elif event.kind == "round_done":
            self.round = event.data["round"] + 1
        elif event.kind == "usage":
            self.usage = event.data
        elif event.kind == "budget_exhausted":
            self.notify(f"Budget reached: {event.data['reason']}", severity="warning")
        self.refresh_status()

    @on(NodeTable.RowHighlighted)
    def show_node(self, event: NodeTable.RowHighlighted) -> None:
        if self.search_tree is not None and event.row_key is not None:
            node = self.search_tree.get(event.row_key.value)
            if node is not None:
                self.query_one(NodeDetail).show(node, self.job.task)

    def refresh_status(self) -> None:
        s = self.job.settings
        u = self.usage
        elapsed = int(time.monotonic() - self.started)
        budget = []
        if s.budget_calls:
            budget.append(f"{max(0, s.budget_calls - u.get('calls', 0))} calls left")
        if s.budget_tokens:
            budget.append(f"{max(0, s.budget_tokens - u.get('tokens', 0))} tokens left")
        if s.budget_usd:
            budget.append(f"${max(0.0, s.budget_usd - u.get('cost_usd', 0.0)):.2f} left")
        parts = [
            f"[b]{self.state}[/b]",
            f"round {min(self.round, s.rounds)}/{s.rounds}" if s.strategy == "orps" else s.strategy,
            f"{self.evaluated} evaluated",
            f"calls {u.get('calls', 0)}",
            f"tokens {u.get('tokens', 0)}",
            f"${u.get('cost_usd', 0.0):.4f}",
            f"{elapsed // 60}:{elapsed % 60:02d}",
        ] + budget + [s.model]
        self.query_one("#status", Static).update("  ·  ".join(parts))

    def action_cancel(self) -> None:
        if self.state == "running":
            self.state = "cancelling"
            self.workers.cancel_group(self, "search")
            self.refresh_status()

    def action_review(self) -> None:
        if self.finished_doc is not None:
            self._open_review()
        else:
            self.notify("The search is still running; press Ctrl+C to stop it and review what it found.")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "search":
            return
        if event.state == WorkerState.SUCCESS:
            self._finish(event.worker.result)
        elif event.state == WorkerState.CANCELLED:
            self.state = "cancelled"
            self.refresh_status()
            self.notify("Search cancelled; what it found is kept (resume it from History).")
            self.job.run.update_meta(status="interrupted", result="cancelled")
            self._open_review_from_tree()
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            self.state = "error"
            self.refresh_status()
            message = error.message if isinstance(error, ModelError) else f"{type(error).__name__}: {error}"
            from orps_tui.screens.dialogs import MessageScreen

            self.app.push_screen(MessageScreen("The search stopped", message + f"\n\nThe run is saved in {self.job.run.path}."))

    def _finish(self, result) -> None:
        self.result = result
        self.state = result.status
        self.finished_doc = finish_result(self.job, result)
        self.refresh_status()
        self._open_review()

    def _open_review(self) -> None:
        from orps_tui.screens.review import ReviewScreen

        result = self.result
        self.app.push_screen(ReviewScreen(self.job, result.tree, result.best, result.baseline, result.status))

    def _open_review_from_tree(self) -> None:
        from orps_tui.screens.review import ReviewScreen
        from search.scoring import best_node

        tree = self.search_tree or SearchTree()
        candidates = [n for n in tree if n.id != "baseline"]
        self.app.push_screen(ReviewScreen(self.job, tree, best_node(candidates), tree.get("baseline"), "cancelled"))
