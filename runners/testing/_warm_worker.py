"""The warm worker: an interpreter that has imported pytest once and forks into each sandbox.

Run by `runners.testing.warm` as `python _warm_worker.py FD MODULE,MODULE...` (what to import) with a
scrubbed environment, `/` as its directory and one inherited SOCK_SEQPACKET socket, fd FD.
Stdlib only; it never imports orps, never reads a key and never runs candidate code itself,
so every fork starts from the same pristine state: pytest and the preloaded modules imported,
nothing else. (Each candidate's own modules, our plugin and its key are only ever imported
or read in the fork.)

For each request (JSON with the sandbox's init as a pidfd, stdout/stderr and the run's
other fds attached) it forks a *joiner*:
1. it joins the run's cgroups, then every namespace of the sandbox bwrap set up for this run
   (`setns` on the pidfd: user, mount, network, IPC, UTS, cgroup and PID at once, or none),
   and takes the sandbox's root and the workspace as its directory;
2. it gives up what joining gave it: a new session, death with its parent, every capability
   (bounding, ambient, effective, permitted), no new privileges, and the same seccomp filter
   bwrap loads for a cold run;
3. it forks the *runner*, which alone is inside the sandbox's PID namespace (so killing the
   sandbox's init kills it and everything it starts), and waits for it, then exits the same
   way (its status is the run's).
The runner sets the run's rlimits, file descriptors, environment, `sys.path` and `sys.argv`
as a fresh `python -m pytest` would have them, and runs pytest's `__main__` as `-m` does.

Replies: {"id", "pid"} once the joiner exists, {"id", "status"} when it has exited.
"""

import os
import sys

# Only os and sys (loaded at start-up anyway) at module level: everything the worker needs
# for itself is imported after pytest, and a run's fork drops it from sys.modules (see KEEP).
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
JOIN = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWPID
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 22, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER, CAP_VERSION_3 = 4, 2, 0x20080522
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
FAILED = 125  # the joiner's exit code when the sandbox could not be entered
SIGKILL = 9

BASE_PATH = sys.path[1:]  # as `python -m` would have it, without this script's directory
PRELOADED: list = []
KEEP: frozenset = frozenset()
"""The modules loaded once pytest and the preloads are imported: all a run's fork keeps in
sys.modules. What the worker imported for its own work (ctypes, socket, json...) is dropped,
so a candidate importing one gets it fresh, with its import-time audit events (our plugin
sees `import ctypes` by the `ctypes.dlopen` it raises, for one)."""


class _Libc:
    """prctl, setns and capset through ctypes (imported in the joiner only)."""

    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    def call(self, name: str, *args) -> None:
        if getattr(self.libc, name)(*args) != 0:
            err = self.ctypes.get_errno()
            raise OSError(err, f"{name}{args[:2]}: {os.strerror(err)}")

    def die_with_parent(self, parent: int) -> None:
        self.call("prctl", PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call (the race Codex notes)
            os._exit(FAILED)

    def drop_privileges(self, seccomp_program: bytes) -> None:
        """What bwrap does before exec: no capabilities anywhere, no way to gain any, the filter."""
        import platform

        ctypes = self.ctypes

        class CapHeader(ctypes.Structure):  # type: ignore[name-defined]  # self.ctypes: the module, as imported before a fork drops it
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class CapData(ctypes.Structure):  # type: ignore[name-defined]  # self.ctypes: the module, as imported before a fork drops it
            _fields_ = [
                ("effective", ctypes.c_uint32),
                ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32),
            ]

        class SockFprog(ctypes.Structure):  # type: ignore[name-defined]  # self.ctypes: the module, as imported before a fork drops it
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
        for cap in range(last + 1):
            self.libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL for caps this kernel lacks: fine
        self.call("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        header, data = CapHeader(CAP_VERSION_3, 0), (CapData * 2)()  # type: ignore[operator]  # a ctypes array type
        self.call("syscall", SYS_CAPSET[platform.machine()], ctypes.byref(header), data)
        self.call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if seccomp_program:
            buffer = ctypes.create_string_buffer(seccomp_program, len(seccomp_program))
            prog = SockFprog(len(seccomp_program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
            self.call("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0)


def _place_fds(received: list[int], targets: list[int]) -> None:
    """Put `received[i]` at number `targets[i]`, /dev/null on 0, and close every other fd."""
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 1000) for fd in received]  # out of the targets' way
    os.dup2(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC), 0)
    for fd, target in zip(high, targets):
        os.dup2(fd, target, inheritable=True)
    keep = {0, *targets}
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _reset_signals() -> None:
    import signal

    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_pytest(request: dict) -> int:
    """In the runner: the process as `python -m pytest ARGS` would start, then pytest."""
    for name in [name for name in sys.modules if name not in KEEP]:
        del sys.modules[name]
    import importlib
    import runpy

    env = request["env"]
    os.environ.clear()
    os.environ.update(env)
    os.environ["PWD"] = request["cwd"]
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    script = request.get("script")
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    # A boot script (`_test_boot`) puts the project's paths on sys.path itself, after it has
    # imported pytest and our plugin: as a cold `python SCRIPT` starts, its directory first.
    sys.path[:] = [os.path.dirname(script), *BASE_PATH] if script else [request["cwd"], *extra, *BASE_PATH]
    sys.path_importer_cache.clear()  # the host's directory listings, not the sandbox's
    importlib.invalidate_caches()
    # pytest cannot rewrite asserts in a plugin already imported (here: preloaded) and says
    # so; for these modules only, that is expected. (pytest matches -W's message literally.)
    quiet = [
        arg
        for name in PRELOADED
        if name != "pytest"
        for arg in (
            "-W",
            f"ignore:Module already imported so cannot be rewritten; {name}:pytest.PytestAssertRewriteWarning",
        )
    ]
    sys.argv[:] = [script or "-m", *quiet, *request["args"]]
    try:
        if script:
            runpy.run_path(script, run_name="__main__")
        else:
            runpy.run_module("pytest", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as done:
        status = done.code
        if status is not None and not isinstance(status, int):
            print(status, file=sys.stderr)
            status = 1
        code = status or 0
    except BaseException:  # noqa: BLE001 - as the interpreter would: a traceback and 1
        import traceback

        traceback.print_exc()
        code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    return code & 0xFF


def _runner(request: dict, received: list[int], libc: _Libc) -> None:
    import resource

    try:
        libc.die_with_parent(os.getppid())
        os.setsid()  # its own group: kill(0) from a candidate reaches nothing outside
        limits, mb = request["limits"], 1 << 20
        resource.setrlimit(resource.RLIMIT_AS, (limits["as_mb"] * mb, limits["as_mb"] * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize_mb"] * mb, limits["fsize_mb"] * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.get("nproc"):
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
        _place_fds(received, request["fds"])
    except BaseException as err:  # noqa: BLE001
        os.write(2, f"orps warm worker: cannot start the run: {err}\n".encode())
        os._exit(FAILED)
    os._exit(_run_pytest(request))


def _joiner(request: dict, received: list[int], worker: int) -> None:
    """Enter the sandbox, lock down, fork the runner inside its PID namespace, wait for it."""
    pidfd, received = received[0], received[1:]
    stderr = received[1]
    try:
        libc = _Libc()
        libc.die_with_parent(worker)
        for path in request["cgroups"]:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        libc.call("setns", pidfd, JOIN)
        os.close(pidfd)
        os.chdir("/")  # the sandbox's root (setns into its mount namespace moved us there)
        os.chdir(request["cwd"])
        os.setsid()
        libc.drop_privileges(bytes.fromhex(request["seccomp"]))
        pid = os.fork()
    except BaseException as err:  # noqa: BLE001
        os.write(stderr, f"orps warm worker: cannot enter the sandbox: {err}\n".encode())
        os._exit(FAILED)
    if pid == 0:
        _runner(request, received, libc)
    for fd in received:  # the pipes must close when the runner's side is done
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        import signal

        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _preload(modules: list[str]) -> None:
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - not installed here: the fork imports it (or not) itself
            pass
    # pytest's built-in plugins, which every session imports (their names: `_pytest_compat.py`,
    # beside this file, kept loaded for the plugin under the name `_test_boot` gives it).
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "_orps_pytest_compat", os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pytest_compat.py")
        )
        assert spec is not None and spec.loader is not None  # a .py file: its spec and loader
        compat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compat)
        sys.modules["_orps_pytest_compat"] = compat
        for name in compat.default_plugin_modules():
            importlib.import_module(name)
    except Exception:  # noqa: BLE001
        pass


def main() -> None:
    global KEEP
    import gc

    PRELOADED[:] = [name for name in sys.argv[2].split(",") if name]
    _preload(PRELOADED)
    # What is loaded now is shared with every fork: keep the collector off it, or each
    # fork's collections (pytest runs five at its end) would walk, and copy, every page.
    gc.collect()
    gc.freeze()
    KEEP = frozenset(sys.modules)
    import json
    import selectors
    import signal
    import socket

    worker = os.getpid()
    control = socket.socket(fileno=int(sys.argv[1]))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is orps's to handle
    running: dict[int, int] = {}  # joiner pid -> request id
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    control.sendall(json.dumps({"ready": True}).encode())
    while True:  # orps closing the socket ends us (so does orps dying: the socket closes)
        for key, _ in selector.select():
            if key.fileobj is wake_r:
                os.read(wake_r, 4096)
                continue
            try:
                message, fds, _, _ = socket.recv_fds(control, 1 << 20, 64)
            except OSError:
                message, fds = b"", []
            if not message:  # the runs in flight die with their sandboxes
                os._exit(0)
            request = json.loads(message)
            pid = os.fork()
            if pid == 0:
                selector.close()
                control.close()
                os.close(wake_r)
                os.close(wake_w)
                _reset_signals()
                _joiner(request, fds, worker)
            for fd in fds:
                os.close(fd)
            running[pid] = request["id"]
            control.sendall(json.dumps({"id": request["id"], "pid": pid}).encode())
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in running:
                control.sendall(
                    json.dumps({"id": running.pop(pid), "status": os.waitstatus_to_exitcode(status)}).encode()
                )


if __name__ == "__main__":
    main()
