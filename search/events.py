"""Events: what the search reports as it goes, for the TUI, the run log and progress bars.

An event is a kind and a JSON-able payload. Kinds:
run_started, node_created, node_evaluated, node_critiqued, round_done, usage,
budget_exhausted, finished, error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    t: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "t": round(self.t, 3), **self.data}


EventSink = Callable[[Event], None]


class EventBus:
    """Fans one event out to every subscriber; a failing subscriber never stops the search."""

    def __init__(self, *sinks: EventSink):
        self.sinks: list[EventSink] = list(sinks)
        self.errors: list[str] = []

    def subscribe(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    def emit(self, kind: str, **data: Any) -> Event:
        event = Event(kind, data)
        for sink in self.sinks:
            try:
                sink(event)
            except Exception as err:  # noqa: BLE001 - a broken view must not break the search
                self.errors.append(f"{type(err).__name__}: {err}")
        return event
