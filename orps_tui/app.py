"""The Textual application: pick a target, watch the search, review and apply the patch.

`make_app` is shared by the CLI (`orps`, `orps solve`, `orps demo`) and the tests, so
what the tests drive is exactly what users run. Screens live in `orps_tui.screens`,
widgets in `orps_tui.widgets`, the layout in `orps.tcss`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding

from orps_tui.errors import EXIT_MODEL_CRASHED, UserError
from orps_tui.failures import SaysWhy
from orps_tui.literal import LiteralNotify
from orps_tui.prefs import RememberTheme
from orps_tui.solving import SolveJob
from search.settings import SearchSettings
from search.types import Evaluator

EXIT_MODEL_ERROR = 3
"""A search in the TUI stopped on a model error (as `orps solve` exits)."""
EXIT_INTERNAL_ERROR = 70
"""A bug: an unexpected exception (as every `orps` command exits)."""


def write_crash_log(error: BaseException) -> str:
    """The traceback of `error` in a temp file; its path, for the one-line message."""
    try:
        fd, path = tempfile.mkstemp(prefix="orps-crash-", suffix=".log")
        with open(fd, "w") as f:
            f.write("".join(traceback.format_exception(error)))
    except OSError as err:  # no writable temp dir: still end with one line, not a second crash
        return f"nowhere (the crash log could not be written: {err.strerror})"
    return path


if TYPE_CHECKING:  # a mixin of Textual's App: checked as one
    _CleanExitBase = App
else:
    _CleanExitBase = object


class CleanExit(_CleanExitBase):
    """An App mixin: an unexpected exception ends the app with exit code 70 and a one-line
    message after the screen is restored (the traceback goes to a file), never Textual's
    traceback on screen; `exit_status` says how the app ended, as the README documents."""

    crash: BaseException | None = None
    crash_log: str = ""
    failure_code: int = 0
    """Set by screens when something failed that the user saw (a model error: 3)."""
    failure_message: tuple[str, str] = ("", "")

    def _handle_exception(self, error: Exception) -> None:
        # Textual's hook for an unhandled exception (pinned textual 8: it would keep a Rich
        # traceback to print on exit); here: remember it, log it, close the app.
        if self.crash is None:
            self.crash, self.crash_log = error, write_crash_log(error)
        if self._exception is None:  # only `run_test` re-raises it: tests still see the bug
            self._exception = error
            self._exception_event.set()
        self._return_code = EXIT_INTERNAL_ERROR
        self._close_messages_no_wait()

    def record_failure(self, error: BaseException) -> None:
        """A failure shown in the app (its own message): the app will exit non-zero."""
        from search.gateway import ModelError

        if isinstance(error, ModelError):
            if not self.failure_code:
                code = EXIT_MODEL_CRASHED if error.kind == "model_crashed" else EXIT_MODEL_ERROR
                self.failure_code, self.failure_message = code, (error.message, error.hint)
        else:
            self.crash, self.crash_log = self.crash or error, self.crash_log or write_crash_log(error)

    @property
    def exit_status(self) -> int:
        """70 after an internal error, 3 after a model error, else the app's return code (0)."""
        if self.crash is not None:
            return EXIT_INTERNAL_ERROR
        return self.return_code or self.failure_code

    def report_exit(self, stream=None) -> int:
        """Print the one-line message for how the app ended (if it failed); the exit status."""
        stream = stream or sys.stderr
        if self.crash is not None:
            print(f"orps: internal error: {type(self.crash).__name__}: {self.crash}", file=stream)
            print(f"hint: this is a bug in orps; the traceback is in {self.crash_log}", file=stream)
        elif self.failure_code and not self.return_code:
            message, hint = self.failure_message
            print(f"orps: {message}", file=stream)
            print(
                f"hint: {hint or 'the run so far is saved; resume it from the history or with orps solve --resume'}",
                file=stream,
            )
        return self.exit_status


def run_app(app: CleanExit) -> int:
    """Run a TUI app to its end; its exit status, with a one-line message when it failed."""
    app.run()
    return app.report_exit()


class OrpsApp(CleanExit, LiteralNotify, SaysWhy, RememberTheme, App):
    CSS_PATH = "orps.tcss"
    TITLE = "orps"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+r", "history", "History", show=False, priority=True),
        Binding("question_mark", "keys", "Keys", show=False),  # not priority: a field takes a typed "?"
    ]

    clock: Callable[[], float] = staticmethod(time.monotonic)
    """Source of the elapsed time on the search screen (tests freeze it for snapshots)."""
    auto_review: bool = True
    """Open the review screen as soon as a search ends (snapshots of the search screen turn it off)."""

    def __init__(
        self,
        project: Path,
        *,
        target: str | None = None,
        settings: SearchSettings | None = None,
        evaluator: Evaluator | None = None,
        run_id: str | None = None,
        resume: bool = False,
        headless_start: bool = False,
        job: SolveJob | None = None,
    ):
        super().__init__()
        self.project = Path(project).resolve()
        self.initial_target = target
        self.settings = settings
        self.evaluator = evaluator
        self.run_id = run_id
        self.resume = resume
        self.headless_start = headless_start
        self.job = job
        self.sub_title = self.project.name
        self._evaluators: dict = {}
        self._evaluators_lock = threading.Lock()  # workers ask for evaluators from threads

    def on_mount(self) -> None:
        from orps_tui.screens.history import open_run
        from orps_tui.screens.start import StartScreen

        self.restore_theme()
        self._warm_up()
        self.push_screen(StartScreen(self.initial_target, self.settings))
        if self.job is not None:
            self.start_job(self.job)
        elif self.run_id:
            open_run(self, self.run_id, resume=self.resume)
        elif self.headless_start and self.initial_target:
            self.start_search(self.initial_target, self.settings.to_dict() if self.settings else {})

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Pay in a thread, at start, the one-time costs the screens would pay on the event
        loop at their first use: compiling the Python highlighter's regular expressions (the
        first code shown), importing the file watcher and the patch makers (the review) and
        the sandbox. Then
        freeze what is in the heap by then, so full collections no longer walk it on the
        event loop (litellm, imported later, freezes its own objects: search.gateway).

        Not litellm here: an import in progress holds its module locks, and `q` during it
        waited for the whole import (2 s after a start on an idle machine).
        """
        from pygments.lexers import PythonLexer

        PythonLexer()
        import runners.code.markers  # noqa: F401  (these three: the patch the review shows)
        import runners.code.patch  # noqa: F401
        import runners.code.splice  # noqa: F401
        import runners.code.watch  # noqa: F401
        import runners.testing.evaluator  # noqa: F401

        freeze_once("after the warm-up's imports")

    # -- searches --------------------------------------------------------------------------
    def get_evaluator(self, settings: SearchSettings, read_paths: Sequence[str] = ()) -> Evaluator:
        """The app's evaluator for a search with these limits: the injected one (tests), else
        one sandbox per set of limits, made once and shared by every check and search of the
        app (its project snapshot with it). A sandbox evaluator runs off the event loop
        (`orps_tui.offloop`): its blocking steps never freeze the screen."""
        if self.evaluator is not None:
            return self.off_loop(self.evaluator)
        from orps_tui.offloop import OffLoopEvaluator
        from orps_tui.solving import make_evaluator

        key = (settings.timeout_s, settings.memory_mb, tuple(read_paths))
        with self._evaluators_lock:
            if key not in self._evaluators:
                self._evaluators[key] = OffLoopEvaluator(lambda: make_evaluator(settings, list(read_paths)))
            return self._evaluators[key]

    def off_loop(self, evaluator: Evaluator) -> Evaluator:
        """`evaluator`, run off the event loop when it is the sandbox (which blocks its caller
        in places); an in-process evaluator (a test's fake) is used as it is."""
        from orps_tui.offloop import OffLoopEvaluator
        from runners.testing.evaluator import SandboxEvaluator

        if not isinstance(evaluator, SandboxEvaluator):
            return evaluator
        with self._evaluators_lock:
            key = id(evaluator)
            if key not in self._evaluators:
                self._evaluators[key] = OffLoopEvaluator.wrapping(evaluator)
            return self._evaluators[key]

    def on_unmount(self) -> None:
        # The sandboxes' temp trees go with the app; removing them blocks, so in a thread.
        evaluators, self._evaluators = list(self._evaluators.values()), {}
        if evaluators:
            threading.Thread(target=_close_quietly, args=(evaluators,), name="orps-close", daemon=False).start()

    def start_search(self, target: str, overrides: dict, **request) -> None:
        """Prepare a search on `target` (task, settings, run directory) off the event loop and
        show it live. `request`: more `SolveRequest` fields (tests, k, problem_text, new).
        Problems the user can fix are shown in a notification."""
        self._prepare_search(target, overrides, request)

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def _prepare_search(self, target: str, overrides: dict, request: dict) -> None:
        from orps_tui.solving import SolveRequest, prepare_job, resolve_settings

        try:
            settings = resolve_settings(self.project, overrides)
            job = prepare_job(
                self.project,
                SolveRequest(target=target, settings=overrides, **request),
                evaluator=self.get_evaluator(settings),
            )
        except UserError as err:
            from orps_tui.screens.start import tui_hint

            hint = tui_hint(err)
            self.call_from_thread(
                self.notify,
                err.message + (f"\n{hint}" if hint else ""),
                title="Cannot start",
                severity="error",
                timeout=10,
            )
            return
        self.call_from_thread(self.start_job, job)

    def start_job(self, job: SolveJob) -> None:
        from orps_tui.screens.search import SearchScreen

        job.evaluator = self.off_loop(job.evaluator)
        freeze_before_first_search()
        self.push_screen(SearchScreen(job))

    # -- editor ----------------------------------------------------------------------------
    def edit_text(self, text: str, name: str = "candidate") -> str:
        """Open `text` in $VISUAL/$EDITOR with the TUI suspended; return the edited text.
        Raises OSError (or Textual's SuspendNotSupported) when no editor can run."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w", suffix=".py", prefix=f"orps-{name}-", delete=False) as f:
            f.write(text)
            path = Path(f.name)
        try:
            with self.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
            return path.read_text()
        finally:
            path.unlink(missing_ok=True)

    # -- navigation ------------------------------------------------------------------------
    def action_history(self) -> None:
        from orps_tui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def action_keys(self) -> None:
        """`?`: every key of the screen, shown ones and hidden ones (Textual's keys panel);
        `?` again or Esc closes it."""
        from textual.widgets import HelpPanel

        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def screen_keys(self, screen) -> dict[str, tuple[str, str, list[str]]]:
        """description -> (action, namespace, every key) of the screen's and the app's bindings:
        a name bound to several keys (Start: s and ctrl+s) is one entry with all of them."""
        found: dict[str, tuple[str, str, list[str]]] = {}
        bindings = [(b, "screen") for b in getattr(screen, "BINDINGS", [])]
        bindings += [(b, "app") for b in self.BINDINGS] + [(Binding("h", "app.history", "History"), "screen")]
        for binding, where in bindings:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            action, _, keys = found.setdefault(binding.description, (binding.action, where, []))
            for key in binding.key.split(","):
                shown = {"question_mark": "?", "slash": "/"}.get(key.strip(), key.strip())
                if shown not in keys:
                    keys.append(shown)
        return found

    def get_system_commands(self, screen):
        """The command palette offers every binding of the current screen and of the app, each
        with all its keys (`Start (keys: s, ctrl+s)`); one entry per name (Textual's own Quit
        is given the keys of the screen's and the app's Quit)."""
        keys = self.screen_keys(screen)
        seen = set()
        for command in super().get_system_commands(screen):
            seen.add(command.title)
            if command.title in keys:
                command = command._replace(help=f"{command.help} (keys: {', '.join(keys[command.title][2])})")
            yield command
        for description, (action, where, bound) in keys.items():
            if description in seen:
                continue
            seen.add(description)

            async def run(action: str = action, where: str = where) -> None:
                await self.run_action(action, screen if where == "screen" else self)

            label = "key" if len(bound) == 1 else "keys"
            yield SystemCommand(description, f"{description} ({label}: {', '.join(bound)})", run)


def make_app(
    project: Path,
    *,
    target: str | None = None,
    settings: SearchSettings | None = None,
    evaluator: Evaluator | None = None,
    run_id: str | None = None,
    resume: bool = False,
    headless_start: bool = False,
    job: SolveJob | None = None,
) -> OrpsApp:
    """The app for `project`.

    target/settings preselect the start screen; `headless_start` starts the search on
    `target` right away; `run_id` opens that stored run for review (or resumes it with
    `resume`); `job` (a prepared `SolveJob`, as `orps solve` makes) starts on it;
    `evaluator` replaces the sandbox (tests inject an in-process fake).
    """
    return OrpsApp(
        project,
        target=target,
        settings=settings,
        evaluator=evaluator,
        run_id=run_id,
        resume=resume,
        headless_start=headless_start,
        job=job,
    )


_frozen_at: set[str] = set()


def freeze_once(moment: str) -> None:
    """Freeze the heap at `moment`, once per process (the tests start many apps)."""
    import gc

    if moment not in _frozen_at:
        _frozen_at.add(moment)
        gc.freeze()


def freeze_before_first_search() -> None:
    """Freeze the heap once per process, as the first search starts: what the start screen
    and the project scan made by then (some 30,000 objects) is no longer walked by the
    full collections that run, on the event loop, while the search screen is shown (30-40
    ms each on a busy machine, inside the screen's own first paint).

    Safe: frozen objects are still freed when their last reference goes; only one that
    ends up in a reference cycle stays until exit. That is bounded by what is alive at this
    one moment, and most of it (the app, the start screen) lives until exit anyway; later
    screens, searches and their garbage are never frozen here, so memory does not grow
    with use. (litellm's first import and first call freeze once too: search.gateway.)
    """
    freeze_once("before the first search")


def _close_quietly(evaluators) -> None:
    """Close the evaluators at exit. Best effort: what is left is only our own temp trees, and
    the process may be ending under this thread (orps exits within a second), so a failure
    here must never print a traceback onto the user's terminal (found in a real tmux run)."""
    for evaluator in evaluators:
        try:
            evaluator.close()
        except Exception:  # noqa: BLE001 - see the docstring
            pass
