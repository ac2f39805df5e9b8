"""Edit a candidate inside the TUI: Textual's TextArea with Python highlighting (tree-sitter).

Ctrl+S saves (the review screen re-checks the code in the sandbox, adds it to the tree
as a node edited by you and keeps it for the function: `orps_tui.edits`), Escape leaves
without saving. Code that does not parse is not saved, nor is an edit the review refuses
(a renamed function, a def line change that would not reach the file): the editor stays
open, says why and puts the cursor on the line. `$EDITOR` stays on the review
screen's `E` key for those who prefer their own editor.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, TextArea

from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar


def syntax_problem(code: str) -> tuple[int, int, str] | None:
    """(line, column, message) of the first syntax error in `code` (1-based), or None."""
    try:
        ast.parse(code)
    except SyntaxError as err:
        return err.lineno or 1, err.offset or 1, err.msg
    except ValueError as err:  # null bytes
        return 1, 1, str(err)
    return None


def syntax_message(problem: tuple[int, int, str]) -> str:
    line, column, message = problem
    return f"Syntax error at line {line}, column {column}: {message}"


class EditorScreen(Screen[str | None]):
    """Dismisses with the edited code on save, None when left without saving."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save and re-check", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    HELP = "ctrl+s saves and re-checks the code against your tests; escape cancels"

    def __init__(self, code: str, title: str, check: Callable[[str], tuple[int, str] | None] | None = None):
        """`check(code)` says why the code cannot be saved, with the line to show: (line, reason)."""
        super().__init__()
        self.code, self.title_text, self.check = code, title, check

    def compose(self) -> ComposeResult:
        yield TitleBar(self.title_text)
        yield Static(self.HELP, id="editor-status", classes="status")
        yield TextArea.code_editor(self.code, language="python", id="code-editor")
        yield Footer()

    def on_mount(self) -> None:
        # At once, not with `focus()` (which waits for the message queue): the editor is
        # focused before it is first drawn, so keys typed as soon as it shows reach it.
        self.set_focus(self.query_one("#code-editor", TextArea))

    def on_text_area_changed(self) -> None:
        self.query_one("#editor-status", Static).update(self.HELP)  # a shown syntax error may be fixed now

    def action_save(self) -> None:
        area = self.query_one("#code-editor", TextArea)
        problem = syntax_problem(area.text)
        if problem is not None:
            line, column, _ = problem
            self._refuse(syntax_message(problem), line, column)
            return
        refusal = self.check(area.text) if self.check else None
        if refusal is not None:
            self._refuse(refusal[1], refusal[0], 1)
            return
        self.dismiss(area.text)

    def _refuse(self, message: str, line: int, column: int) -> None:
        """Stay open, say why where the user looks (status line and a notification), put the
        cursor on the line."""
        area = self.query_one("#code-editor", TextArea)
        self.query_one("#editor-status", Static).update(
            Text.assemble((message, "bold red"), "  (fix it, or escape to cancel)")
        )
        self.notify(message, title="Not saved", severity="error")
        area.move_cursor((max(0, line - 1), max(0, column - 1)))

    def action_cancel(self) -> None:
        self.dismiss(None)
