"""The file watcher: real file events, debounced into one callback per burst."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runners.watch import FileWatcher

SAMPLE = Path(__file__).parent / "fixtures" / "sample_project"


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


def test_atomic_save_by_rename_counts_as_a_change(tmp_path):
    watched = tmp_path / "mod.py"
    watched.write_text("a = 1\n")
    done = threading.Event()
    seen = []
    with FileWatcher([watched], lambda changed: (seen.append(changed), done.set()), debounce_s=0.1):
        time.sleep(0.2)
        tmp = tmp_path / ".mod.py.swp"
        tmp.write_text("a = 2\n")
        os.replace(tmp, watched)  # how many editors save
        assert done.wait(3)
    assert seen == [{watched.resolve()}]


def test_a_failing_callback_does_not_stop_watching_and_stop_is_final(tmp_path):
    watched = tmp_path / "mod.py"
    watched.write_text("")
    errors, calls = [], []
    second = threading.Event()

    def callback(changed):
        calls.append(changed)
        if len(calls) == 1:
            raise RuntimeError("boom")
        second.set()

    watcher = FileWatcher([watched], callback, debounce_s=0.1, on_error=errors.append).start()
    try:
        time.sleep(0.2)
        watched.write_text("1")
        time.sleep(0.5)
        watched.write_text("2")
        assert second.wait(3)
    finally:
        watcher.stop()
        watcher.stop()  # twice is fine
    assert len(calls) == 2 and isinstance(errors[0], RuntimeError)
    watched.write_text("3")
    time.sleep(0.4)
    assert len(calls) == 2  # nothing after stop


def test_proposal_state_pending_applied_stale(tmp_path):
    from orps_tui.commands.watch import proposal_state
    from runners.patch import apply_patch, make_patch

    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    run = tmp_path / ".orps" / "runs" / "20250101-000000-aaaa"
    run.mkdir(parents=True)
    patch = make_patch("m.py", "def f():\n    return 1\n", "def f():\n    return 2\n")
    (run / "task.json").write_text(json.dumps({"target": "m.py::f"}))
    (run / "result.json").write_text(json.dumps({"patch": patch}))
    assert proposal_state(tmp_path, "m.py::f").startswith("pending")
    assert proposal_state(tmp_path, "m.py::g") is None
    apply_patch(tmp_path, patch, backup_dir=tmp_path / "backups")
    assert proposal_state(tmp_path, "m.py::f").startswith("applied")
    (tmp_path / "m.py").write_text("def f():\n    return 3\n")
    assert proposal_state(tmp_path, "m.py::f").startswith("stale")


@pytest.mark.slow
def test_orps_watch_reruns_on_change_and_stops_on_sigterm(tmp_path):
    """The real command in a subprocess: first check, an edit that fixes the bug, SIGTERM."""
    project = tmp_path / "p"
    shutil.copytree(SAMPLE, project)
    proc = subprocess.Popen([sys.executable, "-m", "orps_tui.cli", "watch", "--target",
                             "src/textkit/words.py::fetch_title", "--debounce", "0.2"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline and not any("0/1 passed" in line for line in lines):
            lines.append(proc.stdout.readline())
        time.sleep(1.0)  # the watcher starts right after the first report
        words = project / "src/textkit/words.py"
        words.write_text(words.read_text().replace("return text.splitlines()[0]", "return text.splitlines()[0].strip()"))
        while time.time() < deadline and not any("1/1 passed" in line for line in lines):
            lines.append(proc.stdout.readline())
        assert any("changed: src/textkit/words.py" in line for line in lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "stopped watching" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
