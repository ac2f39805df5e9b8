"""Run one command in a sandbox: bubblewrap namespaces plus resource limits.

Kept whole because `run_sandboxed` and `_Run` are one sequence (set up, start cold or warm,
watch, reap, clean up) over the same state.

This module runs and collects (`run_sandboxed`, `_Run`: start cold or in a warm worker, wait,
kill, drain); the command line and the probes are in `bwrap`, the limits and caps in `caps`,
finding and killing a run's processes in `procs`.

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
  no nested user namespaces (`--disable-userns`) and a seccomp filter (`runners.sandbox.seccomp`)
  refusing new namespaces, mount, bpf, io_uring, keyctl, ptrace; a read-only /dev with a
  size-capped /dev/shm;
- limits set just before exec by `prlimit` (our tiny launcher where the system has none):
  address space, file size, no core dumps, processes; plus per-run cgroups when we may create them (v1 or v2): `pids.max`
  (as root RLIMIT_NPROC does nothing) and one memory limit for every process of the run
  and the tmpfs pages they write (without it RLIMIT_AS bounds each process only); a
  wall-clock timeout; output kept up to a cap per stream while the pipes keep draining,
  so a flood can neither block the child nor fill our memory;
- a scrubbed environment: no keys, tokens, secrets or the user's HOME.

At the end the namespace's init is killed (the kernel then kills everything in it) and we
check that it is gone. Where namespaces are not allowed the same command runs with the
same limits, a new session and the scrubbed environment only ("rlimits-only"), and
leftover processes are found by a marker in their environment and killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

from runners.sandbox import bwrap, seccomp
from runners.sandbox.bwrap import build_command, isolation_name, options_via_fd, scrubbed_env, seccomp_works
from runners.sandbox.caps import Limits, SandboxResult, _RunCgroups, _watch_writes, rlimits
from runners.sandbox.cleanup import later, remove_tree
from runners.sandbox.procs import MARKER_ENV, _alive, _kill_tree, _wait_gone
from runners.testing.metrics import perf_available
from runners.testing.warm import WarmRun, WarmUnavailable, WarmWorker


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


async def run_sandboxed(
    argv: list[str],
    workdir: Path,
    limits: Limits | None = None,
    *,
    env: dict[str, str] | None = None,
    pass_fds: tuple[int, ...] = (),
    extra_ro: list[Path] | None = None,
    writable: list[Path] | None = None,
    read_only: list[Path] | None = None,
    copy_on_write: bool = False,
    lower: Path | None = None,
    mounts: list[tuple[Path, Path]] | None = None,
    on_start=None,
    warm: WarmWorker | None = None,
) -> SandboxResult:
    """Run `argv` in `workdir` under every isolation available here; always reaps the tree.

    `copy_on_write` makes `workdir` writable for the run while its files stay as they are
    (an overlay with a throwaway upper layer); where overlays are not available it stays
    read-only.

    `warm` (a `runners.testing.warm.WarmWorker` of argv's interpreter): run `PYTHON -m pytest ...`
    in a fork of that worker which joins the same sandbox (`runners.testing.warm`); where it cannot
    (no namespaces, another command, a worker that failed) the run is cold, as without it.
    `SandboxResult.isolation` ends in "+warm" or "+cold" to say which ran.

    `on_start` is called once the child holds its fds (close your copies of pipe ends
    there). Cancellation (asyncio.CancelledError) kills the sandbox before propagating.
    """
    limits = limits or Limits()
    workdir = Path(workdir)
    use_bwrap, why = bwrap.bwrap_works()
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
    if copy_on_write and use_bwrap and bwrap.overlay_works():
        # Beside the workdir: overlayfs wants upper and work on one filesystem.
        scratch = Path(tempfile.mkdtemp(prefix="overlay-", dir=workdir.parent))
        (scratch / "upper").mkdir()
        (scratch / "work").mkdir()
    nproc_rlimit = not (cgroup and "pids" in cgroup.controllers)
    cmd = build_command(
        PLACEHOLDER if warm else argv,
        workdir,
        limits,
        full_env,
        extra_ro=list(extra_ro or []),
        writable=list(writable or []),
        read_only=list(read_only or []),
        overlay=(scratch / "upper", scratch / "work") if scratch else None,
        lower=lower,
        mounts=list(mounts or []),
        use_bwrap=use_bwrap,
        nproc_rlimit=nproc_rlimit,
        info_fd=info_w if use_bwrap else None,
        seccomp_fd=seccomp_fd,
        launcher=not warm,
    )
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
    fds = (
        (() if warm else tuple(pass_fds))
        + ((info_w,) if use_bwrap else ())
        + ((seccomp_fd,) if seccomp_fd is not None else ())
        + ((args_fd,) if args_fd >= 0 else ())
    )
    started = time.perf_counter()
    run = _Run(limits, info_r, info_w)
    cancelled = False
    # What the run writes to the host's disk: the overlay's upper layer, writable binds.
    on_disk = [scratch / "upper"] if scratch else []
    on_disk += [Path(p) for p in (writable or [])]
    # Without a memory cgroup, RLIMIT_AS bounds each process only: the watcher adds up the
    # run's processes' memory instead.
    memory = not (cgroup and "memory" in cgroup.controllers)
    watcher = (
        asyncio.ensure_future(
            _watch_writes(
                run,
                on_disk,
                lambda: run.kill(cgroup, marker, use_bwrap),
                memory=memory,
                marker=marker,
                use_bwrap=use_bwrap,
            )
        )
        if on_disk or memory
        else None
    )
    try:
        if warm:
            request = {
                "cwd": str(workdir),
                "args": warm_argv(argv),
                "env": full_env,
                "script": argv[1] if argv[1].endswith("/" + BOOT_NAME) else "",
                "limits": rlimits(limits, nproc_rlimit),
                "cgroups": [str(p / "cgroup.procs") for p in cgroup.paths] if cgroup else [],
                "seccomp": seccomp.program(allow_perf=perf_available()).hex() if seccomp_fd is not None else "",
            }
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
    return SandboxResult(
        run.returncode,
        run.out.decode(errors="replace"),
        run.err.decode(errors="replace"),
        run.timed_out,
        time.perf_counter() - started,
        isolation,
        run.truncated,
        notes,
        run.write_exceeded,
    )


async def warm_ready(worker: WarmWorker) -> bool:
    """Whether `worker` can take runs: it has started, and a first tiny run (`pytest
    --version` in a sandbox) worked through it, once. Runs asked for while that first run
    is under way go cold.

    The first run does not wait for the worker to be ready: its sandbox is set up while the
    worker still imports pytest, and the worker takes the request once it has (a worker
    that never gets there fails the run, by its time limit at the latest)."""
    if worker.probe == "ok":
        return True
    if worker.probe != "new" or worker.broken is not None:
        return False
    worker.probe = "probing"
    try:
        with tempfile.TemporaryDirectory(prefix="orps-warm-probe-") as where:
            result = await run_sandboxed(
                [worker.python, "-m", "pytest", "--version"],
                Path(where),
                Limits(timeout_s=30),
                env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                extra_ro=worker.read_paths,  # a venv outside orps's view: pytest's files are there
                warm=cast(WarmWorker, ProbingWorker(worker)),  # it forwards every other attribute
            )
    except BaseException:  # cancelled: the next run probes again
        worker.probe = "new"
        raise
    worked = result.returncode == 0 and "pytest" in result.stdout + result.stderr and result.isolation.endswith("+warm")
    worker.probe = "ok" if worked else "failed"
    if not worked:
        worker.broken = worker.broken or f"a first warm run failed: {(result.stdout + result.stderr)[-300:]}"
    return worked


class ProbingWorker:
    """The worker as the probe sees it: usable without probing itself again. (A one-shot
    check's run sees its early worker so too; the first run is asked for only when that
    run did not finish: `runners.testing.early_worker`.)"""

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
        self.proc: asyncio.subprocess.Process | None = None
        self.init_pid: int | None = None
        self.returncode: int | None = None
        self.timed_out = self.truncated = False
        self.write_exceeded = ""
        self.drains: asyncio.Future[Any] | None = None
        self.transports: list[asyncio.BaseTransport] = []
        self.warm_run: WarmRun | None = None
        self.started = time.monotonic()

    def _close_info_w(self) -> None:
        # Once: closing a number twice could close another run's pipe.
        if self.info_w >= 0:
            os.close(self.info_w)
            self.info_w = -1

    async def cold(self, cmd, workdir, env, fds, on_start) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(workdir),
            env=env,
            start_new_session=True,
            pass_fds=fds,
        )
        self._close_info_w()
        if on_start is not None:
            on_start()
        assert self.proc.stdout is not None and self.proc.stderr is not None  # both are pipes
        self.drains = asyncio.gather(
            _drain(self.proc.stdout, self.limits.output_bytes, self.out),
            _drain(self.proc.stderr, self.limits.output_bytes, self.err),
        )
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
                *cmd,
                stdin=subprocess.DEVNULL,
                stdout=ready_w,
                stderr=err_w,
                cwd=str(workdir),
                env=env,
                start_new_session=True,
                pass_fds=fds,
            )
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
            # The worker may still be importing pytest (its first run; a one-shot check that
            # started it a moment ago): the sandbox is set up meanwhile, and the run's time
            # starts once the worker can take it.
            if not await worker.ready():
                self.err += f"{worker.broken}\n".encode()
                return
            self.started = time.monotonic()
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
        assert self.proc is not None  # called once the process has started
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
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
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
