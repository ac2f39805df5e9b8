"""Widgets for search nodes: the live table of the tree and the detail tabs of one node."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from search import prompts, scoring
from search.tree import Node, SearchTree
from search.types import Task

COLUMNS = [("best", " "), ("id", "node"), ("round", "rnd"), ("style", "style"), ("pass", "pass"),
           ("process", "proc"), ("outcome", "outc"), ("runtime", "runtime")]


def node_cells(node: Node) -> list:
    ev = node.evaluation
    passed = Text("…" if ev is None else f"{ev.passed}/{ev.total}",
                  style="green" if node.all_passed else ("yellow" if ev and ev.passed else "red"))
    process = "-" if node.process_score is None else f"{node.process_score:.0f}"
    if node.critic_fallback and node.process_score is None:
        process = "~"
    runtime = "-" if ev is None or ev.runtime_s is None else f"{ev.runtime_s * 1000:.1f}ms"
    round_ = "orig" if node.id == "baseline" else str(node.round)
    return ["", node.id, round_, (node.style or "")[:18], passed, process, f"{node.outcome_score:.2f}", runtime]


class NodeTable(DataTable):
    """One row per node; ★ marks the current best. Updating a row touches only its cells."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        self.best_id: str | None = None

    def upsert(self, node: Node) -> None:
        cells = node_cells(node)
        if node.id in self.rows:
            for (key, _), value in zip(COLUMNS[1:], cells[1:]):
                self.update_cell(node.id, key, value)
        else:
            self.add_row(*cells, key=node.id)

    def mark_best(self, tree: SearchTree) -> None:
        best = scoring.best_node([n for n in tree if n.id != "baseline"])
        new = best.id if best else None
        if new == self.best_id:
            return
        if self.best_id in self.rows:
            self.update_cell(self.best_id, "best", "")
        if new in self.rows:
            self.update_cell(new, "best", Text("★", style="bold yellow"))
        self.best_id = new


class NodeDetail(Widget):
    """Reasoning, code, execution feedback and critique of the selected node, in tabs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.node_id: str | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent():
            with TabPane("Code", id="tab-code"):
                yield VerticalScroll(Static(id="code"))
            with TabPane("Feedback", id="tab-feedback"):
                yield VerticalScroll(Static(id="feedback"))
            with TabPane("Reasoning", id="tab-reasoning"):
                yield VerticalScroll(Static(id="reasoning"))
            with TabPane("Critique", id="tab-critique"):
                yield VerticalScroll(Static(id="critique"))

    def show(self, node: Node, task: Task) -> None:
        """Show `node`, rendering only the visible tab (the others render when opened):
        with hundreds of nodes, moving the selection must stay within a frame or two."""
        self.node = node
        self.node_id = node.id
        self._render_active()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._render_active()

    def _render_active(self) -> None:
        node = getattr(self, "node", None)
        if node is None:
            return
        active = self.query_one(TabbedContent).active
        if active == "tab-code":
            theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
            self.query_one("#code", Static).update(
                Syntax(node.code or "# (no code in this answer)", "python", line_numbers=True, theme=theme, word_wrap=True)
            )
        elif active == "tab-feedback":
            notes = "\n".join(f"note: {n}" for n in node.notes)
            self.query_one("#feedback", Static).update(Text(prompts.feedback(node.evaluation) + ("\n\n" + notes if notes else "")))
        elif active == "tab-reasoning":
            self.query_one("#reasoning", Static).update(Text(node.reasoning or "(no reasoning)"))
        elif active == "tab-critique":
            score = "no score (outcome score used)" if node.process_score is None else f"score {node.process_score:.0f}/5"
            self.query_one("#critique", Static).update(Text(f"{score}\n\n{node.critique or '(no critique)'}"))
