"""The search screen: the tree of nodes live, the selected node's details, progress.

The search runs in an async Textual worker on the app's event loop; the engine's events
arrive as messages, so the UI never blocks and never touches widgets from a thread.
Cancelling stops the search cleanly: the engine catches the cancellation, keeps what it
found and returns a `cancelled` result; the run is saved as interrupted (resumable from
the history screen or `orps solve --resume`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from orps_tui.failures import SaysWhy
from orps_tui.result_doc import finish_result, outcome
from orps_tui.screens.first_paint import QuickFirstPaint
from orps_tui.solving import SolveJob
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from orps_tui.widgets.node_detail import NodeDetail
from orps_tui.widgets.nodes import LEGEND, NodeTable
from search.events import Event, EventBus
from search.gateway import ModelError
from search.scoring import best_node
from search.tree import ORIGINAL_ID, SearchTree

if TYPE_CHECKING:
    from orps_tui.app import OrpsApp

NODE_EVENTS = ("node_created", "node_evaluated", "node_critiqued", "node_reused")


class SearchEvent(Message):
    """One engine event, delivered on the UI's message queue."""

    def __init__(self, event: Event):
        super().__init__()
        self.event = event


class SearchScreen(SaysWhy, QuickFirstPaint):
    if TYPE_CHECKING:
        app: OrpsApp  # the app this screen runs in

    BINDINGS = [
        Binding("ctrl+c", "cancel", "Cancel", priority=True),
        Binding("escape,c", "cancel", "Cancel", show=False),
        Binding("v", "review", "Review"),
        Binding("h", "app.history", "History"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, job: SolveJob, finished: tuple[SearchTree, str, str | None] | None = None):
        """`finished` (a stored tree, its status and the proposed node's id or None) shows a
        search that already ended, read-only: the review's `s` reopens it that way for runs
        opened from the history."""
        super().__init__()
        self.job = job
        self.finished = finished
        self.search_tree: SearchTree | None = None
        self.usage: dict = {}
        self.round = 0
        self.evaluated = 0
        self.started = 0.0
        self.ended: float | None = None
        self.finished_doc: dict | None = None
        self.finish_error: Exception | None = None
        self.result = None
        self.state = "starting"
        self.plan: dict = {}
        """The plan event (rounds, calls, limit), once the engine has made it."""
        self.activity = "running your code's tests"
        """What the search is doing now, as the engine's last event tells."""
        self.activity_since = 0.0

    def compose(self) -> ComposeResult:
        yield TitleBar(
            f"{'resuming' if self.job.resume else 'searching'} {self.job.task.target}  (run {self.job.run.id})"
        )
        yield Static(id="status", classes="status")
        yield Static(Text(LEGEND, style="dim"), id="legend", classes="status")
        with Horizontal(id="search-body"):
            yield NodeTable(id="nodes")
            yield NodeDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.started = self.activity_since = self.app.clock()
        self.query_one(NodeTable).focus()
        if self.finished is not None:
            self.search_tree, self.state, proposed = self.finished
            self.ended = self.started
            self.evaluated = sum(1 for n in self.search_tree if n.evaluation is not None)
            self.round = 1 + max((n.round for n in self.search_tree), default=-1)
            stored = self.job.run.read("result.json") or {}
            self.usage, self.plan = stored.get("usage") or {}, stored.get("plan") or {}
            table = self.query_one(NodeTable)
            table.fill(self.search_tree, self.job.settings.goal)
            table.set_star(proposed)  # the review's proposal (edits made there are not the search's)
            self.refresh_status()
            return
        self.set_interval(1.0, self.refresh_status)
        self.refresh_status()
        self.run_search()

    @work(exclusive=True, group="search", exit_on_error=False)
    async def run_search(self):
        bus = EventBus(lambda e: self.post_message(SearchEvent(e)))
        self.state = "running"
        result = await self.job.execute(bus, on_tree=self._set_tree)
        # The result document (the best node's patch, the run's result.json) in a thread:
        # on the event loop it ran inside the same stall as opening the review.
        try:
            self.finished_doc = await asyncio.to_thread(finish_result, self.job, result)
        except Exception as err:  # noqa: BLE001 - the run is stored; a broken patch must not crash the view
            self.finish_error = err
        return result

    def _set_tree(self, tree: SearchTree) -> None:
        self.search_tree = tree

    @on(SearchEvent)
    def handle_event(self, message: SearchEvent) -> None:
        event = message.event
        if not self.is_attached:
            return
        table = self.query_one(NodeTable)
        if event.kind in NODE_EVENTS and self.search_tree is not None:
            node = self.search_tree.get(event.data.get("node", ""))
            if node is not None:
                table.show_later(node, self.search_tree, self.job.settings.goal)  # with the others of its frame
                detail = self.query_one(NodeDetail)
                if detail.node_id in (None, node.id):
                    detail.show(node)
        self._follow(event.kind)
        if event.kind == "node_evaluated":
            self.evaluated += 1
        elif event.kind == "plan":
            self.plan = event.data
            table.reserve(self.plan)  # the node column as wide as the plan's deepest node, from the start
        elif event.kind == "round_done":
            self.round = event.data.get("round", self.round) + 1
            if self.search_tree is not None:
                table.mark_tree(self.search_tree)  # the beam's choice is known now: ● kept, dim pruned
        elif event.kind == "usage":
            self.usage = event.data
        elif event.kind == "budget_exhausted":
            self.notify(f"Budget reached: {event.data.get('reason', '')}", severity="warning")
        self.refresh_status()

    @on(NodeTable.RowHighlighted)
    def show_node(self, event: NodeTable.RowHighlighted) -> None:
        if self.search_tree is not None and event.row_key is not None and event.row_key.value is not None:
            node = self.search_tree.get(event.row_key.value)
            if node is not None:
                self.query_one(NodeDetail).show(node)

    ACTIVITY = {
        "run_started": "running your code's tests",
        "plan": "waiting for the model",
        "node_created": "running the tests",
        "node_critiqued": "waiting for the model",
        "round_done": "waiting for the model",
        "agreement": "choosing among tied candidates",
    }
    """What the search does after each engine event (the model and the tests take turns)."""

    def _follow(self, kind: str) -> None:
        activity: str | None
        if kind == "node_evaluated":
            activity = "waiting for the critic" if self.plan.get("critic") else "waiting for the model"
        else:
            activity = self.ACTIVITY.get(kind)
        if activity and activity != self.activity:
            self.activity, self.activity_since = activity, self.app.clock()

    def progress(self) -> str:
        """Where the search is in its plan: round 0 samples, then the refinement rounds."""
        s = self.job.settings
        if s.strategy != "orps":
            return s.strategy
        rounds = self.plan.get("rounds", s.rounds)
        if self.round == 0:
            return f"round 0 (samples), then {rounds} refinement round(s)"
        return f"round {min(self.round, rounds)} of {rounds}"

    def status_parts(self) -> list[str]:
        s, u = self.job.settings, self.usage
        now = self.ended if self.ended is not None else self.app.clock()
        elapsed = int(now - self.started)
        limit = self.plan.get("limit") or s.budget_calls
        planned = self.plan.get("calls")
        calls = f"calls {u.get('calls', 0)}" + (
            f" of {limit}" if limit else f" of {planned} planned" if planned else ""
        )
        budget = []
        if s.budget_tokens:
            budget.append(f"{max(0, s.budget_tokens - u.get('tokens', 0))} tokens left")
        if s.budget_usd:
            budget.append(f"${max(0.0, s.budget_usd - u.get('cost_usd', 0.0)):.2f} left")
        state = self.state
        if self.state == "running":
            state = f"{self.activity}, {int(now - self.activity_since)} s"
        return [
            state,
            self.progress(),
            f"{self.evaluated} evaluated",
            calls,
            f"{u.get('tokens', 0)} tokens",
            f"${u.get('cost_usd', 0.0):.4f}",
            f"{elapsed // 60}:{elapsed % 60:02d}",
            *budget,
            s.model,
        ]

    def refresh_status(self) -> None:
        state, *rest = self.status_parts()  # literal: a model name may hold brackets
        self.query_one("#status", Static).update(Text.assemble((state, "bold"), *("  ·  " + part for part in rest)))

    def action_cancel(self) -> None:
        if self.state in ("starting", "running"):
            self.state = "cancelling"
            self.workers.cancel_group(self, "search")
            self.refresh_status()
        elif self.state != "cancelling":
            self.app.pop_screen()

    def action_review(self) -> None:
        from orps_tui.screens.review import ReviewScreen

        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if self.state in ("starting", "running", "cancelling"):
            self.notify("The search is still running; Ctrl+C stops it and opens what it found.")
        elif isinstance(below, ReviewScreen) and below.job.run.id == self.job.run.id:
            self.app.pop_screen()  # opened from that review: back to it, as it was
        else:
            self._open_review()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "search":
            return
        if event.state == WorkerState.SUCCESS:
            self._finish(event.worker.result)
        elif event.state == WorkerState.CANCELLED:
            # Cancelled before the engine's own loop started (it returns a result otherwise).
            self.ended = self.app.clock()
            self.state = "cancelled"
            self.job.run.update_meta(status="interrupted", result="cancelled")
            self.refresh_status()
            self._after_end()
        elif event.state == WorkerState.ERROR:
            self._failed(event.worker.error)

    def _failed(self, error: BaseException | None) -> None:
        from orps_tui.screens.dialogs import MessageScreen

        self.ended = self.app.clock()
        self.state = "error"
        self.refresh_status()
        if error is not None:
            self.app.record_failure(error)  # the app exits 3 (model error) or 70 (a bug) when quit
        message = error.message if isinstance(error, ModelError) else f"{type(error).__name__}: {error}"
        if isinstance(error, ModelError) and error.kind == "model_crashed" and error.hint:
            message = f"{message}\n{error.hint}"  # what to do next: `orps doctor`
        self.app.push_screen(
            MessageScreen("The search stopped", f"{message}\n\nWhat it found is kept in {self.job.run.path}.")
        )

    def _finish(self, result) -> None:
        self.ended = self.app.clock()
        self.result = result
        self.search_tree = result.tree
        # `no_improvement`, not `solved`, when nothing beats the code as it is
        self.state = (self.finished_doc or {}).get("status") or outcome(
            result.status, result.best, result.baseline, self.job.settings.goal
        )
        if self.finish_error is not None:
            self.notify(f"Could not build the result document: {self.finish_error}", severity="error")
        table = self.query_one(NodeTable)
        table.fill(result.tree, self.job.settings.goal)
        self.refresh_status()
        if result.status == "cancelled":
            self.notify("Search cancelled; what it found is kept (resume it from History).")
        self._after_end()

    def _after_end(self) -> None:
        if self.app.auto_review and self.app.screen is self:
            self._open_review()

    def _open_review(self) -> None:
        from orps_tui.screens.review import ReviewScreen

        if self.result is not None:
            r = self.result
            self.app.push_screen(ReviewScreen(self.job, r.tree, r.best, r.baseline, self.state))
            return
        tree = self.search_tree or SearchTree()
        best = best_node([n for n in tree if n.id != ORIGINAL_ID])
        self.app.push_screen(ReviewScreen(self.job, tree, best, tree.get(ORIGINAL_ID), self.state))
