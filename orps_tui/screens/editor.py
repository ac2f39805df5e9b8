"""Edit a candidate inside the TUI: Textual's TextArea with Python highlighting (tree-sitter).

Ctrl+S saves (the review screen re-checks the code in the sandbox and adds it to the tree
as a node edited by you), Escape leaves without saving. `$EDITOR` stays on the review
screen's `E` key for those who prefer their own editor.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from orps_tui.widgets.header import TitleBar


class EditorScreen(Screen[str | None]):
    """Dismisses with the edited code on save, None when left without saving."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save and re-check", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    def __init__(self, code: str, title: str):
        super().__init__()
        self.code, self.title_text = code, title

    def compose(self) -> ComposeResult:
        yield TitleBar(self.title_text)
        yield Static("ctrl+s saves and re-checks the code against your tests; escape cancels", classes="status")
        yield TextArea.code_editor(self.code, language="python", id="code-editor")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#code-editor", TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one("#code-editor", TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)
