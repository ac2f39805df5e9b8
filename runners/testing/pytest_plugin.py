"""orps's pytest plugin: per-test records sent through a channel the candidate cannot forge.

Kept whole because it runs inside the sandbox, loaded by file name with the stdlib and pytest
only, and the recording tools live in closures made here at import: a second module would put
them within a candidate's reach as module attributes.

PYTEST_DONT_REWRITE (imported by `_test_boot` before pytest starts: no assertion rewriting).

Shaped like pytest-reportlog: module-level hooks register a small recorder class. It runs
inside the sandbox with the stdlib and pytest only (the evaluator copies this file under a
private name and loads it with `-p`, so importing it never imports the rest of orps).

The channel: the parent passes two inherited pipe fds. At *import* time (pytest imports
`-p` plugins before any conftest, hence before any candidate code runs) we read a one-time
HMAC key from the first pipe, close it and drop the fd numbers from the environment. Every
record then goes to the result pipe with a sequence number and an HMAC. The parent accepts
only correctly signed, in-sequence records and requires the final `finish` record, so lines
written by a candidate, a run cut short (`os._exit`, a signal) or a forked twin all show.

At the end (and when collection finishes) the recorder checks that nobody replaced the
pytest internals that decide outcomes, registered a new plugin or hook wrapper, swapped a
test function's code, or installed a trace function: any of that is reported as tampering.
Limit, stated honestly: the key lives in this process's memory, so a candidate written to
attack *this* plugin (digging through `gc` for it) could still forge records. The OS
sandbox still confines such a run; these checks stop the reward hacks seen in practice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import sys
import time
import types

import pytest  # imported already (by pytest itself, or `_test_boot` before us)

KEY_FD_ENV = "ORPS_KEY_FD"
RESULT_FD_ENV = "ORPS_RESULT_FD"
MESSAGE_LIMIT = 1500


KEY_BYTES = 32
PROBE_LIMIT = 64  # elements looked at inside a returned container
# Events that mean "code inspected its caller, the harness or memory". Checked first, by
# name, so the hook costs one set lookup for the thousands of other events.
_EVENTS = frozenset(
    {
        "sys._getframe",
        "sys._current_frames",
        "object.__getattr__",
        "object.__setattr__",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "open",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "compile",
        "code.__new__",
        "function.__new__",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.addressof",
        "ctypes.cdata",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.call_function",
        "ctypes.set_errno",
        "ctypes.cdata/buffer",
        "ctypes.dlsym/handle",
        "ctypes.get_errno",
        "ctypes.seh_exception",
    }
)
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
_HARNESS = ("_pytest", "pytest", "pluggy", "_orps_pytest_plugin", "runners")


def _read_key() -> tuple[bytes, int, dict] | None:
    """(key, result fd, what the parent told us) from the key pipe: the conftest files that
    existed before the run, the candidate's files, the target and the test files."""
    key_fd, result_fd = os.environ.pop(KEY_FD_ENV, None), os.environ.pop(RESULT_FD_ENV, None)
    if not key_fd or not result_fd:
        return None
    fd, data = int(key_fd), b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    finally:
        os.close(fd)
    info = json.loads(data[KEY_BYTES:].decode() or "{}")
    if isinstance(info, list):  # an older parent: only the conftests
        info = {"conftests": info}
    info["conftests"] = {os.path.realpath(c) for c in info.get("conftests", [])}
    return data[:KEY_BYTES], int(result_fd), info


def _open_channel(key: bytes, fd: int, info: dict):
    """The recording tools, owned by closures made here at import, before any project code
    runs: `emit(record)` signs and writes one record; `note(reason)` records a suspicious
    act (at once, so nothing done later can take it back); `set_test(nodeid)` says which
    test is running. The audit hook installed here cannot be removed from Python.

    Nothing here is a module global: the key exists only inside an HMAC object (whose
    OpenSSL state Python cannot read), and json.dumps, os.write, hmac and sys._getframe are
    the objects captured now; if anyone rebinds the public names, every record says so."""
    import sysconfig

    dumps, write, getframe, realpath = json.dumps, os.write, sys._getframe, os.path.realpath
    hmac_new, sha256 = hmac.new, hashlib.sha256
    signer = hmac_new(key, digestmod=sha256)
    originals = (
        (json, "dumps", dumps),
        (os, "write", write),
        (hmac, "new", hmac_new),
        (sys, "_getframe", getframe),
        (hashlib, "sha256", sha256),
        (os.path, "realpath", realpath),
    )
    state: dict = {"seq": 0, "test": None, "busy": False, "told": set()}
    candidate_files = {realpath(f) for f in info.get("candidate_files", [])}
    # The lines the candidate wrote in each of its files (a file not listed: all of it);
    # the rest is the user's code, the same in every run (a decorator of theirs may inspect
    # the stack). Read here, into this closure: nothing the candidate rebinds can change it.
    authored = {realpath(f): [(a, b) for a, b in spans] for f, spans in (info.get("candidate_lines") or {}).items()}
    test_files = {realpath(f) for f in info.get("test_files", [])} | info["conftests"]
    test_names = {os.path.basename(f) for f in test_files}
    dynamic: set[str] = set()  # file names of code the candidate compiled itself
    libs = tuple({sysconfig.get_paths()[k] + os.sep for k in ("stdlib", "platstdlib")})
    sites = tuple({sysconfig.get_paths()[k] + os.sep for k in ("purelib", "platlib")})
    where: dict[str, str] = {}

    def kind(filename: str) -> str:
        """ "candidate", "stdlib" (inspect, traceback... whose callers we look past) or "other"."""
        found = where.get(filename)
        if found is None:
            if filename in dynamic:
                found = "candidate"
            elif filename.startswith("<frozen"):
                found = "stdlib"
            else:
                real = realpath(filename)
                if real in candidate_files:
                    found = "candidate"
                elif real.startswith(libs) and not real.startswith(sites):
                    found = "stdlib"
                else:
                    found = "other"
            where[filename] = found
        return found

    def emit(record: dict) -> None:
        if state["seq"] and any(getattr(mod, name, None) is not obj for mod, name, obj in originals):
            broken = [
                f"{getattr(mod, '__name__', mod)}.{name}"
                for mod, name, obj in originals
                if getattr(mod, name, None) is not obj
            ]
            if "tools" not in state["told"]:
                state["told"].add("tools")
                emit({"type": "tampered", "reason": "the recorder's tools were replaced: " + ", ".join(broken)})
        record["seq"] = state["seq"]
        state["seq"] += 1
        body = dumps(record, sort_keys=True)
        mac = signer.copy()
        mac.update(body.encode())
        data = (body + "\t" + mac.hexdigest() + "\n").encode()
        while data:
            data = data[write(fd, data) :]

    def note(reason: str) -> None:
        told = (state["test"], reason)
        if told not in state["told"]:
            state["told"].add(told)
            emit({"type": "suspicious", "nodeid": state["test"], "reason": reason})

    def caller(frame, through: tuple[str, ...] = ()):
        """The first frame above `frame` not in the stdlib modules named in `through`
        (all of the stdlib when `through` is ("*",))."""
        while (
            frame is not None
            and kind(frame.f_code.co_filename) == "stdlib"
            and (through == ("*",) or os.path.basename(frame.f_code.co_filename) in through)
        ):
            frame = frame.f_back
        return frame

    def by_candidate(frame, through=()) -> bool:
        found = caller(frame, through)
        if found is None or kind(found.f_code.co_filename) != "candidate":
            return False
        spans = authored.get(realpath(found.f_code.co_filename))
        if spans is None or found.f_code.co_filename in dynamic:
            return True
        line = found.f_lineno
        for first, last in spans:  # a loop, not any(): builtins can be rebound
            if first <= line <= last:
                return True
        return False

    def judge(event: str, args: tuple, frame) -> str | None:
        if event in ("sys._getframe", "sys._current_frames"):
            if by_candidate(frame, ("inspect.py", "traceback.py")):
                return "it inspects the call stack (sys._getframe, inspect.stack/currentframe, traceback)"
        elif event == "object.__getattr__":
            if len(args) > 1 and args[1] in _FRAME_ATTRS and by_candidate(frame, ("inspect.py",)):
                return f"it reaches a frame through .{args[1]} (inspecting its caller)"
        elif event == "object.__setattr__":
            owner = args[0] if args else None
            module = getattr(owner, "__module__", "") if isinstance(owner, type) else ""
            if (
                isinstance(owner, type)  # else `module` is "", never the harness
                and isinstance(module, str)
                and module.split(".")[0] in _HARNESS
                and by_candidate(frame, ("*",))
            ):
                return f"it patches the test harness ({module}.{owner.__qualname__}.{args[1]})"
        elif event.startswith("gc.get_"):
            if by_candidate(frame, ("*",)):
                return f"it searches the interpreter's objects ({event})"
        elif event.startswith("ctypes."):
            if by_candidate(frame, ("*",)):
                return f"it uses ctypes ({event}): raw memory access inside the test process"
        elif event == "open":
            path = args[0] if args else None
            if isinstance(path, (str, bytes, os.PathLike)):
                name = os.path.basename(os.fsdecode(path))
                mode, flags = (args + (None, None))[1:3]
                reading = (
                    ("r" in mode or "+" in mode)
                    if isinstance(mode, str)
                    else (isinstance(flags, int) and flags & os.O_ACCMODE != os.O_WRONLY)
                )
                is_test = reading and (
                    (
                        name.endswith(".py")
                        and (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")
                    )
                    or (name in test_names and realpath(os.fsdecode(path)) in test_files)
                )
                if is_test and by_candidate(frame, ("*",)):
                    return f"it reads the test file {name}"
        elif event in ("sys.settrace", "sys.setprofile", "sys.addaudithook"):
            if by_candidate(frame, ("*",)):
                return f"it installs a hook into the interpreter ({event})"
        elif event in ("compile", "code.__new__", "function.__new__"):
            # Code the candidate makes at run time counts as the candidate's code.
            if by_candidate(frame):
                names = {getattr(a, "co_filename", None) for a in args[:2]} | (
                    {args[1]} if event in ("compile", "code.__new__") and len(args) > 1 else set()
                )
                dynamic.update(n for n in names if isinstance(n, str))
                where.clear()
        return None

    def uninteresting(event: str, args: tuple) -> bool:
        """Cheap tests first: most of these events are imports and pytest's own work, and
        looking up the responsible frame costs more than the event."""
        if event == "object.__getattr__":
            return len(args) < 2 or args[1] not in _FRAME_ATTRS
        if event == "compile":  # imports compile .py files; what a candidate makes is a string
            return len(args) > 1 and isinstance(args[1], str) and args[1].endswith(".py")
        if event == "open":
            path = args[0] if args else None
            if not isinstance(path, (str, bytes, os.PathLike)):
                return True
            name = os.path.basename(os.fsdecode(path))
            return not (
                name in test_names
                or name.endswith(".py")
                and (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")
            )
        return False

    def hook(event: str, args: tuple) -> None:
        if event not in _EVENTS or state["busy"] or uninteresting(event, args):
            return
        state["busy"] = True  # our own getframe/realpath/write calls raise events too
        try:
            reason = judge(event, args, getframe(1))
            if reason:
                note(reason)
        except Exception:  # noqa: BLE001 - a hook that raises would break the user's code
            pass
        finally:
            state["busy"] = False

    def set_test(nodeid: str | None) -> None:
        state["test"] = nodeid

    clock, cpu = time.perf_counter, time.process_time  # the C functions, captured before any test code

    def timer() -> tuple[float, float]:
        """(elapsed, CPU) seconds from clocks nothing in the run can replace: patching
        `time.perf_counter` or pytest's timing module later changes other names, not these."""
        return clock(), cpu()

    sys.addaudithook(hook)
    return emit, note, set_test, timer


class _Probe:
    """A fresh object of no known type: a returned value equal to it equals anything."""

    __slots__ = ()


def _always_equal(value, depth: int = 0) -> str | None:
    """Why `value` (or something inside it) compares equal to things it cannot equal: a
    fresh object, a random integer and a random string. None for honest values."""
    for other in (_Probe(), secrets_int(), "\x00orps-" + os.urandom(8).hex()):
        try:
            if bool(value == other) or not bool(value != other):
                return f"it returned a value (of type {type(value).__name__}) that compares equal to anything"
        except Exception:  # noqa: BLE001 - e.g. numpy arrays refuse bool(); not always-equal
            break
    if depth < 2:
        items = (
            value
            if isinstance(value, (list, tuple, set, frozenset))
            else value.values()
            if isinstance(value, dict)
            else ()
        )
        for n, item in enumerate(items):
            if n >= PROBE_LIMIT:
                break
            found = _always_equal(item, depth + 1)
            if found:
                return found.replace("it returned a value", "it returned a container holding a value", 1)
    return None


def secrets_int() -> int:
    return int.from_bytes(os.urandom(8), "big") | (1 << 70)


_SETUP = _read_key()  # before any conftest or candidate code exists in this process
_CHANNEL = (_open_channel(*_SETUP), _SETUP[2]) if _SETUP else None
del _SETUP


def _load_compat():
    """pytest's private names (`_pytest_compat.py`, beside this file), under their own module
    name: loaded by `_test_boot` (or the warm worker) before us, else here."""
    name = "_orps_pytest_compat"
    module = sys.modules.get(name)
    if module is None:
        import importlib.util

        where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pytest_compat.py")
        spec = importlib.util.spec_from_file_location(name, where)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


_COMPAT = _load_compat()
WATCHED = _COMPAT.WATCHED
_SKIP_OUTCOMES = _COMPAT.skip_outcomes()  # (Skipped, XFailed), taken before any candidate code runs
_rewrite_asserts = _COMPAT.rewrite_asserts


def _lookup(spec: str):
    """The object at `module:attr.attr` (classmethods unwrapped), or None where this pytest
    version has no such thing."""
    import importlib

    module, _, path = spec.partition(":")
    obj: object = importlib.import_module(module)
    for part in path.split("."):
        holder = obj
        obj = getattr(obj, part, None)
        if obj is None:
            return None
        if isinstance(holder, type):
            obj = holder.__dict__.get(part, obj)  # the raw descriptor: property, classmethod...
    return obj


def _watched() -> dict[str, object]:
    """The functions that decide whether a test passed (what reward hackers patch)."""
    found = {spec: _lookup(spec) for spec in WATCHED}
    found.update({f"recorder.{name}": value for name, value in vars(Recorder).items() if callable(value)})
    return {name: value for name, value in found.items() if value is not None}


class _Harness:
    """Every function, class and method of pytest and pluggy, by where it lives: what a
    candidate would patch to turn failures into passes (class attribute writes raise no
    audit event, so they are compared instead). Snapshot once; each check is a few
    thousand dict lookups against the live namespaces (well under a millisecond)."""

    def __init__(self):
        self.entries: list[tuple[str, dict, str, object]] = []  # (where, namespace, name, value)
        self.sizes: list[tuple[str, dict, int]] = []  # a class's namespace and its size: added members
        kinds = (types.FunctionType, property, classmethod, staticmethod)
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] not in ("_pytest", "pluggy", "pytest") or module is None:
                continue
            namespace = vars(module)
            for key, value in list(namespace.items()):
                if isinstance(value, (types.FunctionType, type)):
                    self.entries.append((name, namespace, key, value))
                    if isinstance(value, type) and value.__module__ == name:
                        members = vars(value)
                        self.sizes.append((f"{name}.{key}", members, len(members)))
                        self.entries += [
                            (f"{name}.{key}", members, attr, member)
                            for attr, member in list(members.items())
                            if isinstance(member, kinds)
                        ]
        self.known = {(where, key) for where, _, key, _ in self.entries}

    def changes(self) -> list[str]:
        changed = [f"{where}.{key}" for where, namespace, key, value in self.entries if namespace.get(key) is not value]
        kinds, known = (types.FunctionType, property, classmethod, staticmethod), self.known
        changed += [
            f"{where}.{key}"
            for where, members, size in self.sizes
            if len(members) != size
            for key, value in list(members.items())
            if isinstance(value, kinds) and (where, key) not in known
        ]
        return [f"pytest internals were patched: {', '.join(changed[:5])}"] if changed else []


def _trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Keep the head (what failed) and the tail (where), which is what a model reads."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2 - 10
    return text[:half] + "\n[... trimmed ...]\n" + text[-half:]


def failure_text(report) -> str:
    """The assertion and the traceback lines around it, without pytest's own frames."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    entries = getattr(getattr(longrepr, "reprtraceback", None), "reprentries", None)
    if crash is None or entries is None:
        return _trim(str(longrepr))
    lines: list[str] = []
    for entry in entries[-3:]:
        location = getattr(entry, "reprfileloc", None)
        body = [line for line in getattr(entry, "lines", []) if line.strip()]
        if location is not None:
            lines.append(f"{location.path}:{location.lineno}")
        lines.extend(body[-10:])
    first = crash.message.splitlines()[0] if crash.message else ""
    if not any(first in line for line in lines):
        lines.append(
            f"{os.path.relpath(crash.path) if os.path.isabs(crash.path) else crash.path}:"
            f"{crash.lineno}: {crash.message}"
        )
    return _trim("\n".join(lines))


class Recorder:
    """Writes one signed JSON line per event to the result pipe (through `emit`, which it
    does not own: replacing this object's attributes cannot change how records are signed)."""

    def __init__(self, emit, note, set_test, info: dict, config, timer):
        self._emit, self._note, self._set_test, self._info, self._timer = emit, note, set_test, info, timer
        self._timed: dict[str, tuple[float, float]] = {}
        self._conftests = info["conftests"]
        # Cached rewrites of the test files orps copied (read-only) and vouches for: file -> SHA-256.
        self._trusted_bytecode = {os.path.realpath(k): v for k, v in (info.get("trusted_bytecode") or {}).items()}
        self._started = time.perf_counter()
        self._pm = config.pluginmanager
        self._config = config
        self._hookexec = self._pm._inner_hookexec
        self._trace = (sys.gettrace(), sys.getprofile())
        self._plugins: set[int] = set()
        self._codes: dict[str, object] = {}
        self._impls: dict[str, object] = {}
        self._harness = _Harness()
        self._blamed: dict[str, dict] = {}

    def _tampering(self, session) -> list[str]:
        problems = [f"{name} was replaced" for name, fn in _watched().items() if _BASELINE.get(name) is not fn]
        problems += self._harness.changes()
        if self._pm._inner_hookexec is not self._hookexec:
            problems.append("pytest's hook dispatcher was replaced")
        if (sys.gettrace(), sys.getprofile()) != self._trace:
            problems.append("a trace or profile function was installed")
        for plugin in self._pm.get_plugins():
            if id(plugin) not in self._plugins and not _legitimate(plugin, self._conftests):
                name = self._pm.get_name(plugin) or getattr(plugin, "__name__", type(plugin).__name__)
                problems.append(f"an unexpected pytest plugin was registered: {name}")
        for name, function in self._impls.items():
            impls = getattr(self._pm.hook, name).get_hookimpls()
            if not any(impl.plugin is self and impl.function == function for impl in impls):
                problems.append(f"orps's {name} hook was removed or replaced")
        for item in session.items:
            code = getattr(getattr(item, "function", None), "__code__", None)
            if item.nodeid in self._codes and code is not self._codes[item.nodeid]:
                problems.append(f"the test function {item.nodeid} was replaced")
        return problems

    def pytest_configure(self, config):
        self._plugins = {id(p) for p in config.pluginmanager.get_plugins()}
        self._impls = {name: getattr(self, name) for name in vars(Recorder) if name.startswith("pytest_")}

    def pytest_exception_interact(self, node, call, report):
        """Collection failed with an exception (pytest calls this before the collect report):
        whether it arose in the candidate's own file, kept for the report."""
        if getattr(report, "when", None) == "collect" and call.excinfo is not None:
            blamed = _candidate_error(call.excinfo.value, self._info.get("candidate_files", []))
            if blamed:
                self._blamed[report.nodeid] = blamed

    def pytest_collectreport(self, report):
        if report.failed:
            record = {"type": "collect_error", "nodeid": report.nodeid, "message": _trim(str(report.longrepr))}
            if report.nodeid in self._blamed:
                record["candidate_error"] = self._blamed.pop(report.nodeid)
            self._emit(record)

    def pytest_collection_finish(self, session):
        candidate = {os.path.realpath(f) for f in self._info.get("candidate_files", [])}
        for item in session.items:
            code = getattr(getattr(item, "function", None), "__code__", None)
            self._codes[item.nodeid] = code
            inner = getattr(_innermost(getattr(item, "function", None)), "__code__", None)
            if inner is not None and os.path.realpath(inner.co_filename) in candidate:
                self._emit({"type": "tampered", "reason": f"{item.nodeid} runs code from {inner.co_filename}"})
        swapped = _swapped_tests(session.items, self._config, self._trusted_bytecode)
        if swapped:
            self._emit({"type": "tampered", "reason": "; ".join(swapped)})
        self._emit({"type": "collected", "count": len(session.items), "ids": [i.nodeid for i in session.items]})
        problems = self._tampering(session)
        if problems:
            self._emit({"type": "tampered", "reason": "; ".join(problems)})
        _install_probes(session.items, self._info, self._note)

    def pytest_runtest_logstart(self, nodeid, location):
        self._set_test(nodeid)

    def pytest_runtest_logfinish(self, nodeid, location):
        self._set_test(None)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        """The call phase timed by our own clocks (elapsed and CPU): what `--goal faster`
        compares, so a frozen or patched clock cannot make a candidate look fast."""
        start = self._timer()
        yield
        end = self._timer()
        self._timed[item.nodeid] = (end[0] - start[0], end[1] - start[1])

    def pytest_runtest_makereport(self, item, call):
        """A skip or xfail raised from the candidate's own code is the candidate dodging the
        test (a reward hack seen in practice), never a skip: said as suspicious. Skips from
        marks, decorators (unittest.skipIf) and the test's own code stand."""
        excinfo = call.excinfo
        if excinfo is None or call.when != "call":
            return None
        import unittest

        Skipped, XFailed = _SKIP_OUTCOMES
        if not isinstance(excinfo.value, (Skipped, XFailed, unittest.SkipTest)):
            return None
        candidate = {os.path.realpath(f) for f in self._info.get("candidate_files", [])}
        authored = {os.path.realpath(f): spans for f, spans in (self._info.get("candidate_lines") or {}).items()}
        tb = excinfo.tb
        while tb is not None:
            real = os.path.realpath(tb.tb_frame.f_code.co_filename)
            spans = authored.get(real)
            if real in candidate and (spans is None or any(a <= tb.tb_lineno <= b for a, b in spans)):
                kind = "xfail" if isinstance(excinfo.value, XFailed) else "skip"
                self._note(f"it calls {kind} from its own code (line {tb.tb_lineno}) instead of running the test")
                break
            tb = tb.tb_next
        return None

    def pytest_runtest_logreport(self, report):
        message = ""
        if report.failed:
            message = failure_text(report)
        elif report.skipped:
            message = _trim(str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr))
        record = {
            "type": "report",
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "duration": report.duration,
            "message": message,
            "xfail": hasattr(report, "wasxfail"),
        }
        if report.when == "call" and report.nodeid in self._timed:
            record["clock_s"], record["cpu_s"] = self._timed.pop(report.nodeid)
        self._emit(record)
        if report.when == "call":
            changes = self._harness.changes()
            if changes:  # said now: a patch undone before the end still shows
                self._emit({"type": "tampered", "reason": "; ".join(changes)})

    def pytest_sessionfinish(self, session, exitstatus):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._emit(
            {
                "type": "finish",
                "exitstatus": int(exitstatus),
                "tampered": self._tampering(session),
                "session_s": time.perf_counter() - self._started,
                "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                "maxrss_kb": max(usage.ru_maxrss, children.ru_maxrss),
            }
        )


def _candidate_error(error, candidate_files) -> dict | None:
    """When importing a test module failed inside the candidate's own file (its module does
    not import: a syntax error, a name or module it lacks at import time), where and what:
    {"file", "line", "source", "error"}. The chain is followed: pytest wraps the import's
    exception in its own CollectError."""
    import linecache

    candidates = {os.path.realpath(f) for f in candidate_files}
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        where = None
        if isinstance(error, SyntaxError) and error.filename and os.path.realpath(error.filename) in candidates:
            where = (error.filename, error.lineno or 0)
        tb = None if isinstance(error, SyntaxError) else error.__traceback__
        while tb is not None:  # the innermost frame in the candidate's file
            if os.path.realpath(tb.tb_frame.f_code.co_filename) in candidates:
                where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            tb = tb.tb_next
        if where is not None:
            file, line = where
            text = f"{type(error).__name__}: {error.msg if isinstance(error, SyntaxError) else error}"
            shown = os.path.relpath(file) if os.path.realpath(file).startswith(_WORKSPACE) else file
            return {
                "file": shown,
                "line": line,
                "source": linecache.getline(file, line).strip()[:200],
                "error": text[:500],
            }
        error = error.__cause__ or error.__context__
    return None


def _qualname(code) -> str:
    """The code's qualified name (Python 3.11+), its plain name before: a project's
    interpreter may be older than orps's."""
    return getattr(code, "co_qualname", code.co_name)


def _innermost(function):
    """The function a decorator chain wraps (functools.wraps sets `__wrapped__`: freezegun,
    mock.patch, unittest.skipIf...; hypothesis's @given keeps it as `.hypothesis.inner_test`
    and gives its wrapper the test's file name and line): the code that is the test's own."""
    seen = set()
    while True:
        inner = getattr(function, "__wrapped__", None)
        if inner is None:
            inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)
        if inner is None or id(inner) in seen or not callable(inner):
            return function
        seen.add(id(function))
        function = inner


def _code_shape(code) -> tuple:
    """What a code object does, comparable across two compiles of the same source."""
    consts = tuple(_qualname(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)
    return code.co_code, consts, code.co_names


def _all_codes(code, into: dict) -> dict:
    into[(_qualname(code), code.co_firstlineno)] = _code_shape(code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _all_codes(const, into)
    return into


class _FreshCodes:
    """Every code object of a test file on disk (read-only in the sandbox) as pytest's
    assertion rewriter compiles it, and plainly (made only when the first does not match:
    assertion rewriting off, or an older pytest). The rewritten codes come from pytest's
    cached rewrite of the file when orps vouches for it (`trusted`: the file's SHA-256,
    through the channel; a read-only copy made outside any run) and it is current for the
    source, as pytest would take it; else from a fresh compile, which a mismatch also asks for."""

    def __init__(self, path: str, config, trusted: dict | None = None):
        self.path = path
        self.config = config
        with open(path, "rb") as f:
            self.source = f.read()
        self.cached = _cached_rewrite(path, self.source, trusted or {})
        self.rewritten: dict | None = None
        self.plain: dict | None = None

    def _fresh_rewrite(self) -> dict:
        if self.rewritten is None:
            self.rewritten = {}
            try:
                import ast

                tree = ast.parse(self.source, self.path)
                _rewrite_asserts(tree, self.source, self.path, self.config)
                _all_codes(compile(tree, self.path, "exec", dont_inherit=True), self.rewritten)
            except Exception:  # noqa: BLE001 - the plain compile still stands
                pass
        return self.rewritten

    def defines(self, qualname: str) -> bool:
        """Whether the file itself defines a function of that qualified name."""
        if self.plain is None:
            self.plain = _all_codes(compile(self.source, self.path, "exec", dont_inherit=True), {})
        short = qualname.rsplit(".", 1)[-1]  # before 3.11 code knows its plain name only
        return any(q in (qualname, short) or q.endswith("." + qualname) for q, _ in self.plain)

    def matches(self, code) -> bool:
        key, shape = (_qualname(code), code.co_firstlineno), _code_shape(code)
        if self.cached is not None and self.cached.get(key) == shape:
            return True
        if self._fresh_rewrite().get(key) == shape:
            return True
        if self.plain is None:
            self.plain = _all_codes(compile(self.source, self.path, "exec", dont_inherit=True), {})
        return self.plain.get(key) == shape


def _cached_rewrite(path: str, source: bytes, trusted: dict) -> dict | None:
    """The code shapes of pytest's cached rewrite of the test file `path` (whose bytes are
    `source`), when `trusted` (realpath of a cached file -> its SHA-256) vouches for the
    cached file's bytes and they are current for the source as pytest checks them: this
    interpreter's magic number, then the source's time stamp and size (pytest before 9,
    flags 0) or its hash (pytest 9, flags 3). None otherwise."""
    import importlib.util
    import marshal

    folder, name = os.path.split(path)
    if not trusted or not name.endswith(".py"):
        return None
    try:
        pyc = os.path.join(folder, "__pycache__", _COMPAT.cached_rewrite_name(name[: -len(".py")]))
    except (ImportError, AttributeError):
        return None
    digest = trusted.get(os.path.realpath(pyc))
    if not digest:
        return None
    try:
        with open(pyc, "rb") as f:
            data = f.read()
        stat = os.stat(path)
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest or data[:4] != importlib.util.MAGIC_NUMBER:
        return None
    if data[4:8] == b"\0\0\0\0":
        mtime, size = int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF
        stamp = mtime.to_bytes(4, "little") + size.to_bytes(4, "little")
    elif data[4:8] == b"\3\0\0\0":
        stamp = importlib.util.source_hash(source)[:8]
    else:
        return None
    if data[8:16] != stamp:
        return None
    try:
        code = marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):
        return None
    return _all_codes(code, {}) if isinstance(code, types.CodeType) else None


def _swapped_tests(items, config, trusted: dict | None = None) -> list[str]:
    """Test functions (and the plain functions beside them) whose code is not what the file
    on disk compiles to: a test module replaced while it was being imported. `trusted`:
    cached rewrites orps vouches for (`_cached_rewrite`)."""
    problems: list[str] = []
    fresh: dict[str, _FreshCodes | None] = {}
    modules = {}
    for item in items:
        function = getattr(getattr(item, "function", None), "__func__", getattr(item, "function", None))
        function = _innermost(function)  # a decorator's wrapper lives in its library
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        module = getattr(item, "module", None)
        if module is not None:
            modules[id(module)] = module
        path = os.path.realpath(str(item.path))
        if path not in fresh:
            try:
                fresh[path] = _FreshCodes(path, config, trusted)
            except (OSError, SyntaxError, ValueError) as err:
                problems.append(f"{item.nodeid}: its file cannot be compiled again ({err})")
                fresh[path] = None
        compiled = fresh[path]
        if compiled is None:
            continue
        if os.path.realpath(code.co_filename) != path:
            # A test imported from another file (pytest collects those) is fine; a name the
            # file defines itself that now runs other code is not.
            cls = getattr(item, "cls", None)
            name = getattr(item, "originalname", None) or item.name.split("[")[0]
            qualname = f"{cls.__qualname__}.{name}" if cls is not None else name
            if compiled.defines(qualname):
                problems.append(f"the test {item.nodeid} is not the code in its file (it runs {code.co_filename})")
        elif not compiled.matches(code):
            problems.append(f"the test {item.nodeid} is not the code in its file (the test module was swapped)")
    for module in modules.values():
        path = os.path.realpath(getattr(module, "__file__", "") or "")
        compiled = fresh.get(path)
        for value in list(vars(module).values()) + [
            f for c in vars(module).values() if isinstance(c, type) for f in vars(c).values()
        ]:
            value = _innermost(value) if isinstance(value, types.FunctionType) else value
            code = getattr(value, "__code__", None)
            if (
                isinstance(value, types.FunctionType)
                and code is not None
                and compiled
                and os.path.realpath(code.co_filename) == path
                and not compiled.matches(code)
            ):
                problems.append(f"{_qualname(code)} in {os.path.basename(path)} is not the code in that file")
    return list(dict.fromkeys(problems))


def _install_probes(items, info: dict, note) -> None:
    """Wrap the target, where the test modules hold it, so that every value it returns is
    checked for comparing equal to anything. Only the tests' own references
    are wrapped: the target's recursive calls stay direct (no extra frames)."""
    import functools
    import inspect

    target_file, target_name = info.get("target_file"), info.get("target_name")
    if not target_file or not target_name or "." in target_name:
        return
    target_file = os.path.realpath(target_file)
    target = None
    name = os.path.basename(target_file)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(name) and os.path.realpath(file) == target_file:
            target = getattr(module, target_name, None)
            break
    if not isinstance(target, types.FunctionType):
        return

    def check(value):
        reason = _always_equal(value)
        if reason:
            note(f"{target_name}: {reason}")
        return value

    if inspect.iscoroutinefunction(target):

        @functools.wraps(target)
        async def probed(*args, **kwargs):
            return check(await target(*args, **kwargs))
    else:

        @functools.wraps(target)
        def probed(*args, **kwargs):
            return check(target(*args, **kwargs))

    for module in {id(m): m for m in (getattr(i, "module", None) for i in items) if m is not None}.values():
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if value is target:
                namespace[name] = probed


_WORKSPACE = os.path.realpath(os.getcwd()) + os.sep  # the project copy: where candidate code lives


def _legitimate(plugin, conftests: set[str]) -> bool:
    """Plugins pytest itself registers during a session, the conftest files that existed
    before the run (the parent lists them), and objects of installed plugins (pytest-benchmark
    and others register one when configured), whose code lives outside the project copy.
    Anything else appearing after start-up is candidate code trying to hook into the run."""
    if isinstance(plugin, types.ModuleType):
        file = os.path.realpath(getattr(plugin, "__file__", "") or "")
        return file in conftests or bool(file) and not file.startswith(_WORKSPACE)
    owner = plugin if isinstance(plugin, type) else type(plugin)
    module = owner.__module__ or ""
    if module.split(".")[0] in ("_pytest", "pytest", "pluggy"):
        return True
    file = os.path.realpath(getattr(sys.modules.get(module), "__file__", "") or "")
    methods = [getattr(v, "__code__", None) for v in vars(owner).values()]
    files = {os.path.realpath(c.co_filename) for c in methods if c is not None}
    return bool(file) and not file.startswith(_WORKSPACE) and all(f == file for f in files)


_BASELINE = _watched() if _CHANNEL else {}  # at import: before any candidate code


def pytest_configure(config):
    global _CHANNEL
    if _CHANNEL is not None and not config.pluginmanager.has_plugin("orps-recorder"):
        (emit, note, set_test, timer), info = _CHANNEL
        _CHANNEL = None  # the tools now live only in the recorder's closures
        config.pluginmanager.register(Recorder(emit, note, set_test, info, config, timer), "orps-recorder")
