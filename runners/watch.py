"""Watch files for changes (watchdog), debounced, and call back once per burst of edits.

Editors save in several steps (write a temp file, rename, touch): one callback per
burst, after `debounce_s` of quiet, with the set of watched paths that changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class FileWatcher(FileSystemEventHandler):
    def __init__(self, paths: list[Path], callback: Callable[[set[Path]], None], debounce_s: float = 0.3):
        self.paths = {Path(p).resolve() for p in paths}
        self.callback = callback
        self.debounce_s = debounce_s
        self._pending: set[Path] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._observer = Observer()

    WRITES = {"modified", "created", "moved", "deleted", "closed"}
    """Not "opened" or "closed_no_write": reading the file (as the check does) is no change."""

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in self.WRITES:
            return
        touched = {Path(p).resolve() for p in (event.src_path, getattr(event, "dest_path", "")) if p}
        hits = touched & self.paths
        if not hits:
            return
        with self._lock:
            self._pending |= hits
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            changed, self._pending = self._pending, set()
        if changed:
            self.callback(changed)

    def start(self) -> FileWatcher:
        for directory in {p.parent for p in self.paths}:
            self._observer.schedule(self, str(directory), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._observer.stop()
        self._observer.join(timeout=2)
