"""Every failed action says why: a background step (a Textual worker) that raises shows a
notification naming the step and the error, instead of ending silently.

Workers run with `exit_on_error=False` (one failed check must not close the app), and
Textual then only logs the error: the user saw nothing happen. `SaysWhy` is mixed into the
app and its screens; Textual calls a message handler of every class in the MRO, so a
screen's own `on_worker_state_changed` still runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.worker import Worker, WorkerState

if TYPE_CHECKING:  # a mixin of the app and screens: checked as a node of the DOM
    from textual.dom import DOMNode as _MixinBase
else:
    _MixinBase = object

STEPS = {
    "check-all": "Checking every function's tests",
    "describe": "Checking the target's tests",
    "history": "Reading the past runs",
    "open-run": "Opening the run",
    "prepare": "Starting the search",
    "recheck": "Re-checking your edit",
    "scan": "Scanning the project for functions",
    "watch": "Watching the files for changes",
    "watch-recheck": "Re-checking the proposal",
    "applied": "Reading whether the proposal is applied",
}
"""What each worker group does, as the user would name it."""

QUIET = {"search", "warm-up"}
"""Groups that report their own failure (the search screen's dialog) or have nothing the
user asked for (the warm-up only saves time later)."""


def failure_message(group: str, error: BaseException | None) -> str:
    step = STEPS.get(group, "A background step")
    what = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
    return f"{step} failed: {what}"


class SaysWhy(_MixinBase):
    """Mixin for the app and screens: a failed worker is shown as an error notification."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group in QUIET:
            return
        self.app.notify(
            failure_message(event.worker.group, event.worker.error), title="Failed", severity="error", timeout=15
        )
