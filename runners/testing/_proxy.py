"""The process boundary of a confirmation run, both sides (stdlib only).

Kept whole because it runs as one file on both sides of a confirmation (the candidate's own
process, `serve`, and the test process), loaded by file name with the stdlib only, and both
sides share its wire protocol.

Copied beside orps's plugin as `_orps_proxy.py`. Two processes, two sandboxes, one socket:
- the *candidate's process* (`python _orps_proxy.py serve CONFIG`) imports the candidate's
  module (it cannot see the tests) and serves calls: it unpickles what the tests send
  (the tests are trusted: their pickles are not an attack on it) and answers in a
  restricted JSON encoding;
- the *test process* (pytest, orps's recorder, the tests) holds no candidate code: the
  target is a proxy that pickles the arguments, sends them, and rebuilds the answer from
  JSON. Rebuilding runs no code the candidate chose: values are plain data; an object is
  rebuilt only as an instance of a class of the project's own files (the test process's
  trusted copy) or of a class of the candidate's module that the tests themselves
  instantiated (then it stays in the candidate's process, reached by handle); an
  exception as the first class of its MRO the test process already has, except those
  that decide outcomes (pytest's skip/xfail/fail/exit, unittest's SkipTest, SystemExit).

What crosses: arguments (pickled; a lambda or an open file cannot), results (values,
generators and iterators lazily, instances as above), exceptions, and the mutation of
list/dict/set/bytearray arguments and of plain objects' attributes (sent back after the
call and applied in place). What cannot cross is written to the notes pipe: the run is
then "unconfirmed" with that reason, never a pass.
"""

from __future__ import annotations

import base64
import builtins
import enum
import functools
import importlib
import importlib.machinery
import json
import os
import pickle
import socket
import struct
import sys
import threading
import traceback
import types

FRAME_CAP = 64 << 20
_HEADER = struct.Struct("!I")
CONFIG_ENV = "ORPS_CONFIRM"
GUARD = "orps confirmation: this copy of the target ran outside the proxy (the tests ran it in another process)"


class CannotCross(Exception):
    """A call that cannot cross the process boundary (the confirmation says so)."""


class CandidateGone(Exception):
    """The candidate's process ended or answered nonsense: the call failed."""


class RemoteError(Exception):
    """An exception of the candidate's whose class the test process will not rebuild."""


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_HEADER.pack(len(data)) + data)


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> bytes | None:
    head = _read_exact(sock, _HEADER.size)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    if size > FRAME_CAP:
        raise CandidateGone(f"the candidate's process sent a frame of {size} bytes (more than {FRAME_CAP})")
    return _read_exact(sock, size)


def _ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# ---------------------------------------------------------------- the candidate's side


class Unencodable(Exception):
    pass


class _Encoder:
    """Values into JSON-able trees: scalars as JSON, every container tagged."""

    def __init__(self, server: _Server):
        self.server = server

    def encode(self, obj, depth: int = 0, stack: frozenset = frozenset()):
        if depth > 200:
            raise Unencodable("it is nested more than 200 deep")
        kind = type(obj)
        if obj is None or kind in (bool, int, float, str):
            return obj
        if obj is NotImplemented:
            return {"ni": 1}
        if kind is bytes:
            return {"b": base64.b64encode(obj).decode()}
        if kind is bytearray:
            return {"ba": base64.b64encode(obj).decode()}
        if kind is complex:
            return {"c": [obj.real, obj.imag]}
        if kind is range:
            return {"r": [obj.start, obj.stop, obj.step]}
        if id(obj) in stack:
            raise Unencodable("it contains itself")
        inner = stack | {id(obj)}

        def each(items):
            return [self.encode(x, depth + 1, inner) for x in items]

        if kind is list:
            return {"l": each(obj)}
        if kind is tuple:
            return {"t": each(obj)}
        if kind is set:
            return {"s": each(obj)}
        if kind is frozenset:
            return {"fs": each(obj)}
        if kind is dict or (isinstance(obj, dict) and kind.__module__ == "collections"):
            return {"d": [each(pair) for pair in obj.items()]}
        if isinstance(obj, enum.Enum):
            return {"enum": _ref(kind), "name": obj.name}
        if isinstance(obj, tuple) and hasattr(kind, "_fields"):
            return {"nt": _ref(kind), "items": each(obj)}
        if isinstance(obj, types.GeneratorType) or (hasattr(kind, "__next__") and hasattr(kind, "__iter__")):
            return {"h": self.server.keep(obj), "kind": "iter"}
        if self.server.is_candidate_class(kind):
            return {"h": self.server.keep(obj), "kind": "obj", "type": kind.__qualname__}
        if self.server.is_project_class(kind):
            return {"o": _ref(kind), "state": self.encode(_state(obj), depth + 1, inner)}
        raise Unencodable(f"{kind.__module__}.{kind.__qualname__} is neither a plain value nor a class of the project")


def _state(obj) -> dict:
    state = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                state[name] = getattr(obj, name)
    return state


_MUTABLE = (list, dict, set, bytearray)


class _Server:
    def __init__(self, sock: socket.socket, config: dict):
        self.sock, self.config = sock, config
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.module: types.ModuleType | None = None
        self.root = os.path.realpath(os.getcwd())
        self.encoder = _Encoder(self)

    def keep(self, obj) -> int:
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = obj
        return handle

    def is_candidate_class(self, cls: type) -> bool:
        return (
            self.config.get("kind") == "asserts" and self.module is not None and cls.__module__ == self.module.__name__
        )

    def is_project_class(self, cls: type) -> bool:
        module = sys.modules.get(cls.__module__)
        origin = os.path.realpath(getattr(module, "__file__", None) or "/")
        return origin.startswith(self.root + os.sep)

    def resolve(self, qualname: str):
        obj = self.module
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj

    def load(self, data: bytes):
        import io

        unpickler = pickle.Unpickler(io.BytesIO(data))
        unpickler.persistent_load = self._persistent_load  # type: ignore[method-assign]  # pickle's per-instance hook
        return unpickler.load()

    def _persistent_load(self, pid):
        kind, value = pid
        return self.handles[value] if kind == "h" else self.resolve(value)

    def answer(self, reply: dict) -> None:
        send_frame(self.sock, json.dumps(reply).encode())

    def value(self, obj, what: str) -> dict:
        try:
            return {"ok": self.encoder.encode(obj)}
        except (Unencodable, RecursionError) as err:
            return {
                "cannot": f"{what} of type {type(obj).__module__}.{type(obj).__qualname__} "
                f"cannot cross the process boundary: {err}"
            }

    def exception(self, err: BaseException) -> dict:
        try:
            args = self.encoder.encode(list(err.args))
        except (Unencodable, RecursionError):
            args = {"l": [str(a) for a in err.args]}
        try:
            message = str(err)[:4000]
        except Exception:  # noqa: BLE001 - a __str__ that fails
            message = ""
        mro = [_ref(c) for c in type(err).__mro__ if issubclass(c, BaseException)]
        frames = traceback.extract_tb(err.__traceback__)
        tb = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        return {"raise": {"mro": mro, "args": args, "message": message, "traceback": tb}}

    def hello(self) -> dict:
        try:
            self.module = importlib.import_module(self.config["module"])
            if self.config.get("qualname"):
                self.resolve(self.config["qualname"])
        except BaseException as err:  # noqa: BLE001 - the candidate's module does not import
            return {"error": "".join(traceback.format_exception_only(type(err), err)).strip()[:4000]}
        if self.config.get("kind") != "asserts":
            return {"ok": True}
        names = getattr(self.module, "__all__", None) or [n for n in vars(self.module) if not n.startswith("_")]
        exported = {}
        for name in names:
            obj = getattr(self.module, name, None)
            if isinstance(obj, type) and obj.__module__ == self.module.__name__:
                exported[name] = {"kind": "class"}
            elif callable(obj) and getattr(obj, "__module__", None) == self.module.__name__:
                exported[name] = {"kind": "function"}
            elif not isinstance(obj, types.ModuleType) and not callable(obj):
                reply = self.value(obj, "a value")
                if "ok" in reply:
                    exported[name] = {"kind": "value", "value": reply["ok"]}
        return {"ok": True, "names": exported}

    def call(self, message) -> dict:
        _, target, args, kwargs = message
        if target[0] == "h":
            fn = getattr(self.handles[target[1]], target[2])
        else:
            fn = self.resolve(target[1])
        watched = {str(i): a for i, a in enumerate(args)}
        watched.update({"k:" + k: v for k, v in kwargs.items()})
        before = {}
        for key, arg in watched.items():
            try:
                before[key] = self.encoder.encode(_mutable_state(arg))
            except (Unencodable, RecursionError, TypeError):
                pass
        awaited = False
        try:
            result = fn(*args, **kwargs)
            if isinstance(result, types.CoroutineType):  # an async target: awaited here, its outcome sent
                import asyncio

                awaited = True
                result = asyncio.run(result)
        except BaseException as err:  # noqa: BLE001 - the candidate's exception goes to the tests
            reply = self.exception(err)
        else:
            reply = self.value(result, "a result")
        if awaited:
            reply["awaitable"] = True
        changed = {}
        for key, old in before.items():
            try:
                new = self.encoder.encode(_mutable_state(watched[key]))
            except (Unencodable, RecursionError, TypeError):
                continue
            if new != old:
                changed[key] = new
        if changed:
            reply["mut"] = changed
        return reply

    def step(self, message) -> dict:
        op = message[0]
        if op == "call":
            return self.call(message)
        if op == "next":
            try:
                item = next(self.handles[message[1]])  # type: ignore[call-overload]  # a generator's handle; else TypeError, as before
            except StopIteration as stop:
                return {"stop": self.value(stop.value, "a generator's return value").get("ok")}
            except BaseException as err:  # noqa: BLE001
                return self.exception(err)
            return self.value(item, "a generated value")
        if op == "getattr":
            try:
                obj = getattr(self.handles[message[1]], message[2])
            except BaseException as err:  # noqa: BLE001
                return self.exception(err)
            if callable(obj) and not isinstance(obj, type):
                return {"callable": True}
            return self.value(obj, "an attribute")
        if op == "setattr":
            try:
                setattr(self.handles[message[1]], message[2], message[3])
            except BaseException as err:  # noqa: BLE001
                return self.exception(err)
            return {"ok": None}
        if op == "new":
            try:
                obj = self.resolve(message[1])(*message[2], **message[3])
            except BaseException as err:  # noqa: BLE001
                return self.exception(err)
            return {"ok": {"h": self.keep(obj), "kind": "obj", "type": type(obj).__qualname__}}
        if op == "release":
            self.handles.pop(message[1], None)
            return {"ok": None}
        return {"cannot": f"unknown request {op!r}"}

    def serve(self) -> None:
        self.answer(self.hello())
        while True:
            data = recv_frame(self.sock)
            if data is None:
                return
            try:
                message = self.load(data)
            except Exception as err:  # noqa: BLE001 - e.g. a class only the tests' files define
                self.answer(
                    {
                        "cannot": f"an argument cannot cross the process boundary: {type(err).__name__}: "
                        f"{err} (the candidate's process does not see the tests' files)"
                    }
                )
                continue
            self.answer(self.step(message))


def _mutable_state(arg):
    if isinstance(arg, _MUTABLE):
        return arg
    if hasattr(arg, "__dict__") and not isinstance(arg, (type, types.ModuleType, types.FunctionType)):
        return {"attrs": dict(vars(arg))}
    raise TypeError("immutable")


def serve_main(argv: list[str]) -> None:
    config = json.loads(argv[0])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    paths = [p for p in config.get("paths", []) if p]
    sys.path[:0] = [os.getcwd(), *paths]
    sock = socket.socket(fileno=int(config["fd"]))
    _Server(sock, config).serve()


# ---------------------------------------------------------------- the tests' side


_OUTCOME_CLASSES = (
    "_pytest.outcomes:OutcomeException",
    "unittest.case:SkipTest",
    "builtins:SystemExit",
    "builtins:KeyboardInterrupt",
    "builtins:GeneratorExit",
    "_pytest.outcomes:Exit",
)


class RemoteObject:
    """An object that lives in the candidate's process (an instance of a class of the
    candidate's module the tests instantiated): every use is a call there."""

    __slots__ = ("_orps_handle",)

    def __init__(self, *args, **kwargs):  # made by the class's __new__ (below), which did the work
        pass

    def __getattr__(self, name):
        return CLIENT.getattr(self, name)

    def __setattr__(self, name, value):
        if name == "_orps_handle":
            object.__setattr__(self, name, value)
        else:
            CLIENT.request(("setattr", self._orps_handle, name, value))


def _remote_dunder(name):
    def method(self, *args):
        return CLIENT.call(("h", self._orps_handle, name), args, {})

    method.__name__ = name
    return method


for _name in (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__len__",
    "__iter__",
    "__contains__",
    "__getitem__",
    "__setitem__",
    "__delitem__",
    "__bool__",
    "__repr__",
    "__str__",
    "__call__",
    "__add__",
    "__sub__",
    "__mul__",
    "__next__",
):
    setattr(RemoteObject, _name, _remote_dunder(_name))


class Client:
    def __init__(self, config: dict):
        self.config = config
        self.sock = socket.socket(fileno=int(config["fd"]))
        os.set_inheritable(self.sock.fileno(), False)
        self.notes_fd = int(config["notes"])
        os.set_inheritable(self.notes_fd, False)
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.noted: set[str] = set()
        self.hello: dict | None = None
        self.classes: dict[str, type] = {}
        self.used_classes: set[str] = set()
        self.root = os.path.realpath(os.getcwd())
        self.plugin_dir = os.path.dirname(os.path.realpath(__file__))

    def note(self, reason: str) -> None:
        reason = " ".join(reason.split())[:500]
        if reason not in self.noted and len(self.noted) < 20:
            self.noted.add(reason)
            try:
                os.write(self.notes_fd, (reason + "\n").encode())
            except OSError:
                pass

    def cannot(self, reason: str):
        self.note(reason)
        raise CannotCross(reason)

    def greet(self) -> dict:
        if self.hello is None:
            with self.lock:
                data = recv_frame(self.sock)
                if data is None:
                    raise CandidateGone("the candidate's process ended before it answered")
                self.hello = self._parse(data)
        if "error" in self.hello:
            raise ImportError(f"the candidate's module does not import (in its own process): {self.hello['error']}")
        return self.hello

    def _parse(self, data: bytes) -> dict:
        try:
            reply = json.loads(data)
        except (ValueError, RecursionError) as err:
            raise CandidateGone(f"the candidate's process answered something that is not a reply: {err}") from None
        if not isinstance(reply, dict):
            raise CandidateGone("the candidate's process answered something that is not a reply")
        return reply

    @staticmethod
    def _persistent_id(obj):
        """Proxies travel as what they stand for: a handle, or the candidate's own name."""
        if type(obj) is not type and isinstance(obj, RemoteObject):
            return ("h", object.__getattribute__(obj, "_orps_handle"))
        remote = getattr(obj, "_orps_remote", None) if isinstance(obj, (types.FunctionType, type)) else None
        return ("q", remote) if isinstance(remote, str) else None

    def _dump(self, message) -> bytes:
        import io

        out = io.BytesIO()
        try:
            pickler = pickle.Pickler(out, protocol=4)
            pickler.persistent_id = self._persistent_id  # type: ignore[method-assign]  # pickle's per-instance hook
            pickler.dump(message)
        except Exception as err:  # noqa: BLE001 - which argument, said plainly
            culprit = _unpicklable(message)
            what = f"{type(culprit).__module__}.{type(culprit).__qualname__}" if culprit is not None else "?"
            self.cannot(f"unconfirmed: an argument of type {what} cannot cross the process boundary ({err})")
        return out.getvalue()

    def request(self, message) -> dict:
        if os.getpid() != self.pid:
            self.cannot(
                "unconfirmed: the target was called from a process the tests started; "
                "only the test process talks to the candidate's process"
            )
        self.greet()
        data = self._dump(message)
        with self.lock:
            try:
                send_frame(self.sock, data)
                answer = recv_frame(self.sock)
            except OSError as err:
                raise CandidateGone(f"the candidate's process is gone: {err}") from None
        if answer is None:
            raise CandidateGone("the candidate's process ended during a call")
        reply = self._parse(answer)
        if "cannot" in reply:
            self.cannot("unconfirmed: " + str(reply["cannot"]))
        return reply

    def call(self, target, args, kwargs):
        reply = self.request(("call", target, tuple(args), dict(kwargs)))
        return self.finish(reply, args, kwargs)

    def finish(self, reply: dict, args=(), kwargs=None):
        if reply.pop("awaitable", False):  # an async target: the tests await what it gave
            return _awaitable(lambda: self.finish(reply, args, kwargs))
        for key, state in (reply.get("mut") or {}).items():
            arg = kwargs.get(key[2:]) if key.startswith("k:") else args[int(key)] if int(key) < len(args) else None
            if arg is not None:
                _apply(arg, self.decode(state))
        if "raise" in reply:
            raise self.exception(reply["raise"])
        return self.decode(reply.get("ok"))

    def getattr(self, obj: RemoteObject, name: str):
        handle = object.__getattribute__(obj, "_orps_handle")
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        reply = self.request(("getattr", handle, name))
        if reply.get("callable"):

            def method(*args, **kwargs):
                return self.call(("h", handle, name), args, kwargs)

            method.__name__ = name
            return method
        return self.finish(reply)

    # -- rebuilding what the candidate's process sent

    def decode(self, tree):
        if tree is None or isinstance(tree, (bool, int, float, str)):
            return tree
        if not isinstance(tree, dict) or len(tree) == 0:
            raise CandidateGone("the candidate's process sent a malformed value")

        def each(items):
            return [self.decode(x) for x in items]

        if "l" in tree:
            return each(tree["l"])
        if "t" in tree:
            return tuple(each(tree["t"]))
        if "s" in tree:
            return set(each(tree["s"]))
        if "fs" in tree:
            return frozenset(each(tree["fs"]))
        if "d" in tree:
            return {self.decode(k): self.decode(v) for k, v in tree["d"]}
        if "b" in tree:
            return base64.b64decode(tree["b"])
        if "ba" in tree:
            return bytearray(base64.b64decode(tree["ba"]))
        if "c" in tree:
            return complex(*tree["c"])
        if "r" in tree:
            return range(*tree["r"])
        if "ni" in tree:
            return NotImplemented
        if "enum" in tree:
            cls = self.project_class(tree["enum"])
            member = getattr(cls, str(tree["name"]), None)
            if not isinstance(member, cls):
                raise CandidateGone(f"no member {tree['name']!r} in {tree['enum']}")
            return member
        if "nt" in tree:
            return self.project_class(tree["nt"])(*each(tree["items"]))
        if "o" in tree:
            cls = self.project_class(tree["o"])
            obj = cls.__new__(cls)
            state = self.decode(tree["state"])
            for key, value in state.items() if isinstance(state, dict) else ():
                object.__setattr__(obj, str(key), value)
            return obj
        if "h" in tree:
            handle = int(tree["h"])
            if tree.get("kind") == "iter":
                return _remote_iterator(self, handle)
            cls = self.classes.get(str(tree.get("type")))
            if cls is None or str(tree.get("type")) not in self.used_classes:
                self.cannot(
                    f"unconfirmed: a result of type {tree.get('type')} cannot cross the process boundary "
                    "(only values, generators and classes of the candidate's module that the tests "
                    "instantiate do)"
                )
            obj = object.__new__(cls)
            object.__setattr__(obj, "_orps_handle", handle)
            return obj
        raise CandidateGone("the candidate's process sent a value of an unknown kind")

    def _module_allowed(self, module) -> bool:
        """A module of the project's own source: under the project, not orps's, not a test's
        (a test helper's class may well compare equal to anything)."""
        origin = os.path.realpath(getattr(module, "__file__", None) or "/")
        if not origin.startswith(self.root + os.sep) or origin.startswith(self.plugin_dir + os.sep):
            return False
        parts = os.path.relpath(origin, self.root).split(os.sep)
        name = parts[-1]
        return not (
            name.startswith("test_")
            or name.endswith("_test.py")
            or name == "conftest.py"
            or any(p in ("tests", "test", "testing") for p in parts[:-1])
        )

    def project_class(self, ref: str) -> type:
        """A class of the project's own files, as this (trusted) process has it."""
        module_name, _, qualname = str(ref).partition(":")
        module = sys.modules.get(module_name)
        if module is None or not self._module_allowed(module):
            self.cannot(
                f"unconfirmed: a value of type {module_name}.{qualname} cannot cross the process boundary "
                "(only plain values and classes of the project's own files do)"
            )
        obj = module
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if not isinstance(obj, type) or issubclass(obj, RemoteObject):  # (a proxy class would run a call)
            self.cannot(f"unconfirmed: {module_name}.{qualname} is not a class the tests' process has")
        return obj  # type: ignore[return-value]  # a class: cannot() raised otherwise

    def exception(self, info: dict) -> BaseException:
        refused = tuple(c for c in (_find_class(r) for r in _OUTCOME_CLASSES) if c is not None)
        args = self.decode(info.get("args"))
        args = tuple(args) if isinstance(args, list) else ()
        for ref in info.get("mro") or []:
            cls = _find_class(str(ref))
            if cls is None or not issubclass(cls, BaseException) or issubclass(cls, refused):
                continue
            top = cls.__module__.split(".")[0]
            if not (
                cls.__module__ == "builtins"
                or (top in sys.stdlib_module_names and top not in _NOT_STDLIB)
                or self._module_allowed(sys.modules.get(cls.__module__))
            ):
                continue  # a library's or pytest's own class: its nearest builtin or stdlib base instead
            try:
                err = cls(*args)
            except Exception:  # noqa: BLE001 - an __init__ that wants other arguments
                err = cls.__new__(cls)
                err.args = args
            break
        else:
            err = RemoteError(f"{(info.get('mro') or ['?'])[0]}: {info.get('message', '')}")
        if hasattr(err, "add_note") and info.get("traceback"):
            err.add_note("(raised in the candidate's process, at " + str(info["traceback"])[:300] + ")")
        return err


_NOT_STDLIB = ("unittest", "doctest", "bdb", "pdb")
"""Standard modules whose exceptions steer a test run: never rebuilt for the candidate."""


def _find_class(ref: str):
    """A class the test process already has (nothing is imported for it)."""
    module_name, _, qualname = ref.partition(":")
    obj = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _apply(arg, state) -> None:
    """The candidate's change to an argument, made to the test's own object."""
    if isinstance(arg, (list, bytearray)):
        arg[:] = state
    elif isinstance(arg, dict):
        arg.clear()
        arg.update(state)
    elif isinstance(arg, set):
        arg.clear()
        arg.update(state)
    elif isinstance(state, dict) and isinstance(state.get("attrs"), dict):
        for key, value in state["attrs"].items():
            if not str(key).startswith("__"):  # plain attributes only: never __class__ or __dict__
                object.__setattr__(arg, str(key), value)


def _unpicklable(message):
    """The first argument of `message` that does not pickle (None when all do)."""
    for part in message[2:] if len(message) > 2 else message:
        for item in part.values() if isinstance(part, dict) else part if isinstance(part, (list, tuple)) else [part]:
            try:
                pickle.dumps(item, protocol=4)
            except Exception:  # noqa: BLE001
                return item
    return None


async def _awaitable(outcome):
    return outcome()


def _remote_iterator(client: Client, handle: int):
    while True:
        reply = client.request(("next", handle))
        if "stop" in reply:
            return client.decode(reply["stop"])
        if "raise" in reply:
            raise client.exception(reply["raise"])
        yield client.decode(reply.get("ok"))


def remote_function(qualname: str, module: str = ""):
    def proxy(*args, **kwargs):
        return CLIENT.call(("q", qualname), args, kwargs)

    proxy.__name__ = qualname.rsplit(".", 1)[-1]
    proxy.__qualname__ = qualname
    proxy.__module__ = module or proxy.__module__
    proxy._orps_remote = qualname  # type: ignore[attr-defined]  # a function attribute: marks the proxy
    return proxy


def _class_dropped(function):
    """A classmethod's proxy: the candidate's process binds its own class, so the class
    this side passes is left out of the call."""

    @functools.wraps(function)
    def method(cls, *args, **kwargs):
        return function(*args, **kwargs)

    return method


def remote_class(name: str, module: str):
    def __new__(cls, *args, **kwargs):
        CLIENT.used_classes.add(name)
        return CLIENT.finish(CLIENT.request(("new", name, args, kwargs)))

    cls = type(name, (RemoteObject,), {"__new__": __new__, "__slots__": (), "__module__": module, "_orps_remote": name})
    assert CLIENT is not None  # connected (`main`) before any proxy is made
    CLIENT.classes[name] = cls
    return cls


CLIENT: Client | None = None


def export(namespace: dict) -> None:
    """Dataset tasks: the stand-in `solution` module gets the candidate's public names as
    proxies (never a builtin's name: `sorted` or `abs` stay the test's own)."""
    assert CLIENT is not None  # connected (`main`) before the names are exported
    hello = CLIENT.greet()
    exported = []
    for name, info in (hello.get("names") or {}).items():
        name = str(name)
        if not name.isidentifier() or name.startswith("_") or hasattr(builtins, name):
            continue
        if info.get("kind") == "function":
            namespace[name] = remote_function(name, namespace["__name__"])
        elif info.get("kind") == "class":
            namespace[name] = remote_class(name, namespace["__name__"])
        elif info.get("kind") == "value":
            try:
                namespace[name] = CLIENT.decode(info.get("value"))
            except CannotCross:
                continue
        else:
            continue
        exported.append(name)
    namespace["__all__"] = exported


class _TargetHook:
    """Project tasks: once the target's file is imported (under any module name), the
    target in it is replaced by the proxy, before anything can import it from there."""

    def __init__(self, path: str, qualname: str):
        self.path = os.path.realpath(path)
        base = os.path.basename(self.path)
        self.last = os.path.basename(os.path.dirname(self.path)) if base == "__init__.py" else base[:-3]
        self.qualname = qualname

    def find_spec(self, fullname, path=None, target=None):
        if fullname.rpartition(".")[2] != self.last:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or os.path.realpath(spec.origin) != self.path or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            self.patch(module)

        spec.loader.exec_module = exec_module
        return spec

    def patch(self, module) -> None:
        *outer, name = self.qualname.split(".")
        holder = module
        for part in outer:
            holder = getattr(holder, part)
        proxy = remote_function(self.qualname, module.__name__)
        raw = vars(holder).get(name)
        if isinstance(raw, staticmethod):
            proxy = staticmethod(proxy)
        elif isinstance(raw, classmethod):  # the candidate's process binds its own class
            proxy = classmethod(_class_dropped(proxy))
        setattr(holder, name, proxy)


def install(config: dict) -> None:
    """In the test process, before pytest starts (`_test_boot`)."""
    global CLIENT
    CLIENT = Client(config)
    if config.get("kind") == "project":
        sys.meta_path.insert(0, _TargetHook(config["target_path"], config["qualname"]))


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "serve":
    serve_main(sys.argv[2:])
