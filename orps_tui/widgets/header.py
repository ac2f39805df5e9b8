"""A one-line title bar: app name, screen title, project name.

Textual's `Header` watches titles with async callbacks that can fire after its screen
is torn down (a search that ends while the app quits) and crash the app; this bar is
rendered once per screen and needs no watchers. It has no clock, so snapshots are stable.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, title: str, **kwargs):
        super().__init__(**kwargs)
        self.title_text = title

    def on_mount(self) -> None:
        self.update(Text.assemble(("orps", "bold"), " · ", self.title_text, ("  —  " + self.app.sub_title, "dim")))


__all__ = ["TitleBar"]
