"""A screen that opens in three short event-loop steps instead of one long one.

Shared by the search and review screens, the two that open while a search runs
(benchmarks/bench_tui_stall.py measured each change).
"""

from __future__ import annotations

import asyncio

from textual import events
from textual.screen import Screen


class QuickFirstPaint(Screen):
    _resumed = False
    _paint_deferred = False
    """True between the first layout and the first paint, which runs one loop step later."""

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Textual's own handler (subclass first). On the first resume, right after
        # the push, every widget was styled as it mounted: Textual's restyle of the whole
        # screen there repeats that work inside the screen's first paint (a fifth of it).
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
            self._paint_deferred = True

    def _compositor_refresh(self) -> None:
        # Textual's first resume lays the screen out and paints it in one call (about 10 ms
        # and 25 ms of the 36 ms stall of opening the review screen at 120x36). Paint in a
        # later step instead: a timer, so that what fell due meanwhile (keys, the clock)
        # runs in between. Textual's private hook (listed in orps_tui/_textual_compat.py).
        if self._paint_deferred:
            self._paint_deferred = False
            asyncio.get_running_loop().call_later(0.001, self._paint_if_current)
            return
        super()._compositor_refresh()

    def _paint_if_current(self) -> None:
        if self.is_attached and self.is_current:
            super()._compositor_refresh()

    async def on_resize(self, event: events.Resize) -> None:
        # Also before Textual's handler, which lays the screen out again (it follows the
        # first paint in the same step of the screen's message queue): let the event loop
        # run in between, so the two are two short stalls rather than one long one. A timer,
        # not sleep(0): asyncio runs what a step queued before the timers (keys, the clock)
        # that fell due meanwhile, which would then wait for both.
        await asyncio.sleep(0.001)
