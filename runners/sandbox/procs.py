"""Finding and killing a sandboxed run's processes: through the namespace's init (the kernel
then kills everything inside), its cgroups, or, without namespaces, the marker every process
of the run carries in its environment (`MARKER_ENV`).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runners.sandbox.caps import _RunCgroups


MARKER_ENV = "ORPS_SANDBOX_RUN"


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie holds nothing but its number)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _marked_pids(marker: str) -> list[int]:
    """Processes carrying our per-run marker in their environment (the fallback's way to
    find children that left our session)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _kill_tree(pid: int, init_pid: int | None, cgroup: _RunCgroups | None, marker: str, use_bwrap: bool) -> None:
    """Kill everything the run started, at once (no waiting)."""
    try:
        os.killpg(pid, signal.SIGKILL)  # the launcher side: sh/bwrap (our session)
    except (ProcessLookupError, PermissionError):
        pass
    if init_pid is not None:
        _kill(init_pid)  # the namespace's init: the kernel then kills every process inside
    if cgroup:
        cgroup.kill_all()
    if not use_bwrap:
        for other in _marked_pids(marker):  # children that called setsid() left our group
            _kill(other)


def _wait_gone(init_pid: int | None, cgroup: _RunCgroups | None, marker: str, use_bwrap: bool) -> None:
    """Wait (briefly, killing again) until the run's processes are really gone."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        left = [p for p in ([init_pid] if init_pid else []) + (cgroup.pids() if cgroup else []) if _alive(p)]
        if not use_bwrap:
            left += [p for p in _marked_pids(marker) if _alive(p)]
        if not left:
            return
        for p in left:
            _kill(p)
        time.sleep(0.01)


def _reap(pid: int, init_pid: int | None, cgroup: _RunCgroups | None, marker: str, use_bwrap: bool) -> None:
    """Kill everything the run started and wait (briefly) until it is really gone."""
    _kill_tree(pid, init_pid, cgroup, marker, use_bwrap)
    _wait_gone(init_pid, cgroup, marker, use_bwrap)
