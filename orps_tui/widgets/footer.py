"""Textual's footer, without restyling every key twice each time it is rebuilt.

Textual's `Footer` rebuilds its keys whenever the screen's bindings change (every screen
shown, every focus change). Each new `FooterKey` starts `compact=True`, whose watcher adds
the `-compact` class, and is then bound to the footer's `compact` (False), whose watcher
removes it: two style updates of the key and its parts per key, about a sixth of the CPU
of showing the review screen (it ran as one event-loop stall, benchmarks/bench_tui_stall.py).
Here each key is made with the value and class it ends up with, so both watchers find
nothing to change; what is shown is the same (the snapshot tests pin it).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey


class Footer(TextualFooter):
    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # The keys of bindings are bound to the footer's `compact`; the command
                # palette's key is not, and keeps FooterKey's default (compact).
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget


__all__ = ["Footer"]
