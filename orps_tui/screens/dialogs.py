"""Small screens: a yes/no confirmation, a message, and a side-by-side code comparison."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from orps_tui.literal import literal
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from search.tree import Node, node_name


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question (a plain string is shown literally); dismisses with True for yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, question: str | Text):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(literal(self.question), classes="question")
            yield Label("[b]y[/b] yes    [b]n[/b] no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class MessageScreen(ModalScreen[None]):
    """A message (errors, what a patch changed) the user closes with Enter or Escape; the
    title and a plain-string message are shown literally."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, message: str | Text):
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, style="bold"))
            yield Static(literal(self.message), classes="question")
            yield Label("press Enter to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


def _code_panel(node: Node, dark: bool) -> ComposeResult:
    ev = node.evaluation
    name = node_name(node.id)
    label = Text(name, style="bold")
    if ev:
        label.append(f"  {ev.passed}/{ev.total} tests")
    if ev and ev.runtime_s is not None:
        label.append(f"  {ev.runtime_s * 1000:.1f}ms")
    with Vertical(classes="compare-side"):
        yield Label(label)
        with VerticalScroll():
            yield Static(
                Syntax(
                    node.code or "# no code", "python", line_numbers=True, theme="ansi_dark" if dark else "ansi_light"
                )
            )


class CompareScreen(Screen):
    """Two nodes' code side by side (the original, the best, or a marked node)."""

    BINDINGS = [Binding("escape,q,d", "app.pop_screen", "Back")]

    def __init__(self, left: Node, right: Node):
        super().__init__()
        self.left, self.right = left, right

    def compose(self) -> ComposeResult:
        dark = self.app.current_theme.dark
        names = [node_name(n.id) for n in (self.left, self.right)]
        yield TitleBar(f"compare {names[0]} and {names[1]}")
        with Horizontal(id="compare"):
            yield from _code_panel(self.left, dark)
            yield from _code_panel(self.right, dark)
        yield Footer()
