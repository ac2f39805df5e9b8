"""A screen that opens in two short event-loop steps instead of one long one.

Shared by the search and review screens, the two that open while a search runs
(benchmarks/bench_tui_stall.py measured each change).
"""

from __future__ import annotations

import asyncio

from textual import events
from textual.screen import Screen


class QuickFirstPaint(Screen):
    _resumed = False

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Textual's own handler (subclass first). On the first resume, right after
        # the push, every widget was styled as it mounted: Textual's restyle of the whole
        # screen there repeats that work inside the screen's first paint (a fifth of it).
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    async def on_resize(self, event: events.Resize) -> None:
        # Also before Textual's handler, which lays the screen out again (it follows the
        # first paint in the same step of the screen's message queue): let the event loop
        # run in between, so the two are two short stalls rather than one long one. A timer,
        # not sleep(0): asyncio runs what a step queued before the timers (keys, the clock)
        # that fell due meanwhile, which would then wait for both.
        await asyncio.sleep(0.001)
