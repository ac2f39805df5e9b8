"""Watch files for changes (watchdog), debounced, and call back once per burst of edits.

Editors save in several steps (write a temp file, rename, touch): one callback per
burst, after `debounce_s` of quiet, with the set of watched paths that changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class FileWatcher(FileSystemEventHandler):
    """Calls `callback(changed_paths)` from a timer thread after each burst of writes to
    `paths` (`start()`/`stop()`, or use it as a context manager). Atomic saves (write a
    temp file, rename it over the original) count as a change of the original. An
    exception in the callback is passed to `on_error` (default: ignored) so watching
    goes on."""

    def __init__(
        self,
        paths: list[Path],
        callback: Callable[[set[Path]], object],
        debounce_s: float = 0.3,
        on_error: Callable[[BaseException], None] | None = None,
    ):
        self.paths = {Path(p).resolve() for p in paths}
        self.callback = callback
        self.debounce_s = debounce_s
        self._pending: set[Path] = set()
        self._timer: threading.Timer | None = None
        self.on_error = on_error
        self._lock = threading.Lock()
        self._stopped = False
        self._observer = Observer()

    WRITES = {"modified", "created", "moved", "deleted", "closed"}
    """Not "opened" or "closed_no_write": reading the file (as the check does) is no change."""

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in self.WRITES:
            return
        touched = {Path(os.fsdecode(p)).resolve() for p in (event.src_path, getattr(event, "dest_path", "")) if p}
        hits = {p for p in touched if self.wanted(p)}
        if not hits:
            return
        with self._lock:
            if self._stopped:
                return
            self._pending |= hits
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def wanted(self, path: Path) -> bool:
        return path in self.paths

    def _fire(self) -> None:
        with self._lock:
            changed, self._pending = self._pending, set()
            if self._stopped:
                return
        if changed:
            try:
                self.callback(changed)
            except Exception as err:  # noqa: BLE001 - one failed callback must not end the watching
                if self.on_error is not None:
                    self.on_error(err)

    def start(self) -> FileWatcher:
        for directory in {p.parent for p in self.paths}:
            self._observer.schedule(self, str(directory), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        return self

    def stop(self) -> None:
        """Stop watching; no callback runs after this returns. Safe to call twice."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=2)

    def __enter__(self) -> FileWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ProjectWatcher(FileWatcher):
    """A `FileWatcher` for every file under `root` (recursively) whose name ends in
    `suffix` and that `skip(relative_path)` does not rule out (ignored files, .orps/)."""

    def __init__(
        self,
        root: Path,
        callback: Callable[[set[Path]], object],
        skip: Callable[[str], bool],
        suffix: str = ".py",
        debounce_s: float = 0.3,
        on_error: Callable[[BaseException], None] | None = None,
    ):
        super().__init__([], callback, debounce_s=debounce_s, on_error=on_error)
        self.root, self.skip, self.suffix = Path(root).resolve(), skip, suffix

    def wanted(self, path: Path) -> bool:
        if not path.name.endswith(self.suffix) or not path.is_relative_to(self.root):
            return False
        return not self.skip(path.relative_to(self.root).as_posix())

    def start(self) -> ProjectWatcher:
        self._observer.schedule(self, str(self.root), recursive=True)
        self._observer.daemon = True
        self._observer.start()
        return self
