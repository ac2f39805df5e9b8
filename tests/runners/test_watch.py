"""The file watcher: real file events, debounced into one callback per burst."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runners.code.watch import FileWatcher
from tests.support import Lines, cli_env, wait_until

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"


class Calls:
    """A watcher callback that records each call and lets a test wait for the n-th."""

    def __init__(self, fail_first: bool = False):
        self.calls: list[set[Path]] = []
        self.fail_first = fail_first
        self._cond = threading.Condition()

    def __call__(self, changed: set[Path]) -> None:
        with self._cond:
            self.calls.append(changed)
            self._cond.notify_all()
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("boom")

    def wait(self, n: int, timeout: float = 10) -> list[set[Path]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= n, timeout), f"{n} calls expected, got {self.calls}"
            return list(self.calls)


# Inotify reports a directory's events in order. So, to show that nothing more came of some
# writes, a test writes a "barrier" file afterwards and waits for its callback: any event of
# the earlier writes was delivered before it (in the barrier's burst or in one of its own).
# This replaces a fixed sleep, which proves nothing when the machine is too busy to deliver.


def test_burst_of_writes_gives_one_callback(tmp_path):
    watched, other, barrier = tmp_path / "mod.py", tmp_path / "other.py", tmp_path / "barrier.py"
    for path in (watched, other, barrier):
        path.write_text("")
    calls = Calls()
    with FileWatcher([watched, barrier], calls, debounce_s=0.2):
        for i in range(5):
            watched.write_text(f"a = {i}\n")
        other.write_text("not watched\n")
        watched.read_text()  # reading is not a change
        assert calls.wait(1) == [{watched.resolve()}]
        barrier.write_text("done\n")
        assert calls.wait(2) == [{watched.resolve()}, {barrier.resolve()}]  # nothing more came of the burst


def test_unwatched_files_are_ignored(tmp_path):
    watched, other = tmp_path / "a.py", tmp_path / "b.py"
    watched.write_text("")
    calls = Calls()
    with FileWatcher([watched], calls, debounce_s=0.1):
        other.write_text("x")
        watched.write_text("barrier")
        assert calls.wait(1) == [{watched.resolve()}]  # b.py, written first, is not in it


def test_atomic_save_by_rename_counts_as_a_change(tmp_path):
    watched = tmp_path / "mod.py"
    watched.write_text("a = 1\n")
    calls = Calls()
    with FileWatcher([watched], calls, debounce_s=0.1):
        tmp = tmp_path / ".mod.py.swp"
        tmp.write_text("a = 2\n")
        os.replace(tmp, watched)  # how many editors save
        assert calls.wait(1) == [{watched.resolve()}]


def test_a_failing_callback_does_not_stop_watching_and_stop_is_final(tmp_path):
    watched = tmp_path / "mod.py"
    watched.write_text("")
    errors = []
    calls = Calls(fail_first=True)
    watcher = FileWatcher([watched], calls, debounce_s=0.1, on_error=errors.append).start()
    try:
        watched.write_text("1")
        calls.wait(1)
        wait_until(lambda: errors, 5, "the first callback's error reaching on_error")
        watched.write_text("2")
        calls.wait(2)
    finally:
        watcher.stop()
        watcher.stop()  # twice is fine
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    # A second watcher on the same file, with a longer debounce, sees the next write: had the
    # stopped one still been watching, it would have called back before this one.
    after = Calls()
    with FileWatcher([watched], after, debounce_s=0.5):
        watched.write_text("3")
        after.wait(1)
    assert len(calls.calls) == 2  # nothing after stop


def test_proposal_state_pending_applied_stale(tmp_path):
    from orps_tui.commands.watch import proposal_state
    from runners.code.patch import apply_patch, make_patch

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
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "watch",
            "--target",
            "src/textkit/words.py::fetch_title",
            "--debounce",
            "0.2",
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        out.wait_for("0/1 passed", 60)
        err.wait_for("Ctrl+C to stop", 30)  # printed once the watcher has started
        words = project / "src/textkit/words.py"
        words.write_text(
            words.read_text().replace("return text.splitlines()[0]", "return text.splitlines()[0].strip()")
        )
        out.wait_for("changed: src/textkit/words.py", 30)
        out.wait_for("1/1 passed", 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "stopped watching" in err.rest()
    finally:
        if proc.poll() is None:
            proc.kill()
