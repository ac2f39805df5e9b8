"""The file watcher: real file events, debounced into one callback per burst."""

from __future__ import annotations

import threading
import time

from runners.watch import FileWatcher


def test_burst_of_writes_gives_one_callback(tmp_path):
    watched, other = tmp_path / "mod.py", tmp_path / "other.py"
    watched.write_text("a = 1\n")
    other.write_text("")
    calls, done = [], threading.Event()

    def callback(changed):
        calls.append(changed)
        done.set()

    watcher = FileWatcher([watched], callback, debounce_s=0.2).start()
    try:
        time.sleep(0.2)
        for i in range(5):
            watched.write_text(f"a = {i}\n")
            time.sleep(0.02)
        other.write_text("not watched\n")
        watched.read_text()  # reading is not a change
        assert done.wait(3)
        time.sleep(0.5)
    finally:
        watcher.stop()
    assert calls == [{watched.resolve()}]


def test_unwatched_files_are_ignored(tmp_path):
    watched, other = tmp_path / "a.py", tmp_path / "b.py"
    watched.write_text("")
    calls = []
    watcher = FileWatcher([watched], calls.append, debounce_s=0.1).start()
    try:
        time.sleep(0.2)
        other.write_text("x")
        time.sleep(0.5)
    finally:
        watcher.stop()
    assert calls == []
