"""What a sandboxed run may use, and the caps that hold it there: `Limits`, the rlimits the
launcher (or a warm worker's fork) sets, per-run cgroups (pids.max, one memory limit) where
we may create them, and the watcher that adds up what a run writes to disk and, without a
memory cgroup, the memory its processes hold, and stops it past its limits. `SandboxResult`
is what a run returns.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from runners.sandbox.procs import _kill, _marked_pids

if TYPE_CHECKING:
    from runners.sandbox.run import _Run


@dataclass
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 2048
    max_procs: int = 64
    max_file_mb: int = 64
    tmp_mb: int = 512
    shm_mb: int = 256
    output_bytes: int = 1 << 20
    write_mb: int = 512
    """Bytes a run may write to the host's disk (a copy-on-write layer, a writable workspace)."""
    write_files: int = 100_000
    """Files and directories it may create there."""


@dataclass
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float
    isolation: str
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    write_exceeded: str = ""
    """Why the run was stopped for writing too much to the host's disk ("" when it was not)."""


CGROUP_ROOT = Path("/sys/fs/cgroup")


@cache
def _cgroup_roots() -> dict[str, Path]:
    """Where we may create per-run cgroups, by controller ("pids", "memory"): cgroup v1's
    per-controller hierarchies, or one directory of the v2 unified hierarchy with both
    controllers enabled. Usually only root may; an empty dict otherwise."""
    roots: dict[str, Path] = {}
    if (CGROUP_ROOT / "cgroup.controllers").is_file():  # v2
        base = CGROUP_ROOT / "orps"
        try:
            base.mkdir(exist_ok=True)
            for parent in (CGROUP_ROOT, base):
                (parent / "cgroup.subtree_control").write_text("+pids +memory")
        except OSError:
            return {}
        controllers = (base / "cgroup.subtree_control").read_text().split()
        return {c: base for c in ("pids", "memory") if c in controllers and _can_create(base)}
    for controller in ("pids", "memory"):
        base = CGROUP_ROOT / controller / "orps"
        try:
            base.mkdir(exist_ok=True)
        except OSError:
            continue
        if _can_create(base):
            roots[controller] = base
    return roots


def _can_create(base: Path) -> bool:
    probe = base / f"probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def _own_process_count() -> int:
    """Processes of our uid on the host: RLIMIT_NPROC counts them all, not just the sandbox's."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def rlimits(limits: Limits, nproc_rlimit: bool = True) -> dict:
    """What the launcher (or the warm worker's fork) sets just before the run starts."""
    nproc = None
    if nproc_rlimit and os.geteuid() != 0:
        nproc = limits.max_procs + _own_process_count()  # RLIMIT_NPROC counts the uid's host processes too
    return {"as_mb": limits.memory_mb, "fsize_mb": limits.max_file_mb, "nproc": nproc}


class _RunCgroups:
    """Throwaway cgroups for one run (pids.max, and a memory limit counting every process
    and the tmpfs pages they write); a launcher shell joins them before exec'ing bwrap."""

    def __init__(self, limits: Limits):
        self.paths: list[Path] = []
        self.controllers: list[str] = []
        name = uuid.uuid4().hex[:12]
        memory = limits.memory_mb << 20
        wanted = {
            "pids": [("pids.max", str(limits.max_procs))],
            # v1 names, then v2 names; memsw/swap: swapping out is no way around the limit
            "memory": [
                ("memory.limit_in_bytes", str(memory)),
                ("memory.memsw.limit_in_bytes", str(memory)),
                ("memory.max", str(memory)),
                ("memory.swap.max", "0"),
            ],
        }
        for controller, base in _cgroup_roots().items():
            path = base / name
            try:
                if path not in self.paths:
                    path.mkdir()
                    self.paths.append(path)
                written = False
                for file, value in wanted[controller]:
                    if (path / file).exists():
                        (path / file).write_text(value)
                        written = True
                if written:
                    self.controllers.append(controller)
            except OSError:
                continue

    @property
    def path(self) -> Path | None:  # the pids controller's, when there is one
        return self.paths[0] if self.paths else None

    def wrap(self, cmd: list[str]) -> list[str]:
        """Join the cgroups from a shell *before* bwrap starts, so nothing escapes the limits."""
        if not self.paths:
            return cmd
        joins = " && ".join(f'echo $$ > "${i + 1}"' for i in range(len(self.paths)))
        return [
            "/bin/sh",
            "-c",
            f'{{ {joins}; }} || exit 125; shift {len(self.paths)}; exec "$@"',
            "sh",
            *(str(p / "cgroup.procs") for p in self.paths),
            *cmd,
        ]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.paths:
            try:
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(found)

    def kill_all(self) -> None:
        for pid in self.pids():
            _kill(pid)

    def remove(self) -> None:
        for path in self.paths:
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill_all()
                    time.sleep(0.02)


WRITE_CHECK_S = 0.2


def disk_usage(paths: list[Path], max_files: int) -> tuple[int, int]:
    """(bytes allocated, entries) under `paths`, never following links; stops counting
    past `max_files` entries."""
    total = files = 0
    stack = [str(p) for p in paths]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                files += 1
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                if files > max_files:
                    return total, files
    return total, files


def run_memory(roots: list[int], marker: str = "") -> int:
    """Resident bytes of the processes under `roots` (and, without namespaces, of those
    carrying the run's marker): shared pages count once per process, an overestimate."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int((fields.get("VmRSS", "0 kB").split() or ["0"])[0]) * 1024
    inside = set(roots) | (set(_marked_pids(marker)) if marker else set())
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in inside and pid not in inside:
                inside.add(pid)
                changed = True
    return sum(rss.get(pid, 0) for pid in inside)


async def _watch_writes(
    run: _Run, paths: list[Path], kill, *, memory: bool = False, marker: str = "", use_bwrap: bool = True
) -> None:
    """Every WRITE_CHECK_S (a timer, not a busy loop), what the run has written to the host's
    disk and, with `memory` (no memory cgroup here), how much memory its processes hold;
    past the limits it is stopped, and says why. (Inside, /tmp and /dev/shm are size-capped
    tmpfs; this covers what lands on disk.)"""
    limits = run.limits
    while True:
        await asyncio.sleep(WRITE_CHECK_S)
        used, files = await asyncio.to_thread(disk_usage, paths, limits.write_files) if paths else (0, 0)
        if used > limits.write_mb << 20 or files > limits.write_files:
            run.write_exceeded = (
                f"it wrote more than {limits.write_mb} MB to disk"
                if used > limits.write_mb << 20
                else f"it created more than {limits.write_files} files"
            )
            kill()
            return
        if memory and run.proc is not None:
            roots = [p for p in (run.init_pid, run.proc.pid) if p]
            joiner = run.warm_run.pid if run.warm_run is not None else None
            if joiner is not None and joiner.done() and not joiner.cancelled() and joiner.exception() is None:
                roots.append(joiner.result())  # a warm run's process is the joiner's child, outside bwrap's tree
            held = await asyncio.to_thread(run_memory, roots, "" if use_bwrap else marker)
            if held > limits.memory_mb << 20:
                run.write_exceeded = f"its processes used more than {limits.memory_mb} MB of memory together"
                kill()
                return
