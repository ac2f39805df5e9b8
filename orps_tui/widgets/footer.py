"""Textual's footer, without restyling every key twice each time it is rebuilt.

Textual's `Footer` rebuilds its keys whenever the screen's bindings change (every screen
shown, every focus change). Each new `FooterKey` starts `compact=True`, whose watcher adds
the `-compact` class, and is then bound to the footer's `compact` (False), whose watcher
removes it: two style updates of the key and its parts per key, about a sixth of the CPU
of showing the review screen (it ran as one event-loop stall, benchmarks/bench_tui_stall.py).
Here each key is made with the value and class it ends up with, so both watchers find
nothing to change. And the footer is rebuilt only when what it would show changes: the
screen's bindings change many times while it is being shown (10 rebuilds when the search
screen opens), nearly always to the same keys. What is shown is the same (the snapshot
tests pin it). `FooterKey` is not exported by Textual: orps_tui/_textual_compat.py imports it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter

from orps_tui._textual_compat import FooterKey


class Footer(TextualFooter):
    _shown: tuple | None = None
    """What the keys were last built from (`_keys`), None before they are."""

    def _keys(self) -> tuple:
        """Everything about the screen's bindings that the footer shows (the shown bindings,
        and the command palette's, which the footer shows on the right)."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (
                key,
                binding.key,
                binding.key_display,
                binding.description,
                binding.action,
                binding.tooltip,
                binding.group,
                enabled,
                tooltip,
            )
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )

    def bindings_changed(self, screen) -> None:
        if self._shown is not None and self.is_attached and screen is self.screen and self._keys() == self._shown:
            return  # rebuilding would make the same keys
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        self._shown = self._keys() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # The keys of bindings are bound to the footer's `compact`; the command
                # palette's key is not, and keeps FooterKey's default (compact).
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget


__all__ = ["Footer"]
