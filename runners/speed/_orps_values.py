"""Values as plain JSON, both ways: what the record and replay harnesses (inside the sandbox)
and orps (outside it) exchange about a call. Stdlib only; copied into the sandbox beside
the harnesses, and imported by `runners.speed.equivalence` to compare.

Nothing here ever unpickles or evaluates: a value becomes a JSON tree of tagged nodes, and
only the builtin types below are rebuilt from one (`decode`). Anything else is kept as a
description (`{"t": "obj", ...}` with the object's type and its attributes, or `{"t":
"repr", ...}` with its repr): such a value can be compared, never rebuilt, so a call that
takes one as an argument is recorded but cannot be replayed.

    None, bool, str          as themselves (str: {"t": "str"} only when very long: cut)
    int                      {"t": "int", "v": "123"} (any size)
    float                    {"t": "float", "v": 1.5} or "nan"/"inf"/"-inf"
    complex                  {"t": "complex", "re": ..., "im": ...}
    bytes, bytearray         {"t": "bytes", "v": base64}
    list, tuple              {"t": "list"/"tuple", "v": [...]}
    set, frozenset           {"t": "set"/"frozenset", "v": [...]} in a canonical order
    dict                     {"t": "dict", "v": [[key, value], ...]} in insertion order
    other objects            {"t": "obj", "type": "mod.Name", "v": {attr: value}} (its __dict__
                             or __slots__), else {"t": "repr", "type": ..., "v": repr(x)}
"""

from __future__ import annotations

import base64
import json
import math

MAX_DEPTH = 30
MAX_ITEMS = 10_000
"""Items of one container kept; more are cut (and the value marked as cut)."""
MAX_STR = 100_000


def _type_name(value) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(value, depth: int = 0, seen: frozenset = frozenset()):
    """A JSON-able tree describing `value` (never raises: the last resort is a repr)."""
    if value is None or isinstance(value, bool):
        return value
    cls = type(value)
    if cls is str:
        return value if len(value) <= MAX_STR else {"t": "str", "v": value[:MAX_STR], "cut": True}
    if cls is int:
        return (
            {"t": "int", "v": str(value)}
            if value.bit_length() < 4000
            else {"t": "repr", "type": "int", "v": "<a very large int>"}
        )
    if cls is float:
        return {"t": "float", "v": value if math.isfinite(value) else str(value)}
    if cls is complex:
        return {"t": "complex", "re": encode(value.real), "im": encode(value.imag)}
    if cls in (bytes, bytearray):
        return {"t": "bytes" if cls is bytes else "bytearray", "v": base64.b64encode(bytes(value[:MAX_STR])).decode()}
    if depth > MAX_DEPTH or id(value) in seen:
        return {"t": "repr", "type": _type_name(value), "v": "<too deep or recursive>"}
    inner = seen | {id(value)}
    if cls in (list, tuple):
        items = [encode(v, depth + 1, inner) for v in value[:MAX_ITEMS]]
        out: dict = {"t": cls.__name__, "v": items}
        if len(value) > MAX_ITEMS:
            out["cut"] = True
        return out
    if cls in (set, frozenset):
        items = [encode(v, depth + 1, inner) for v in value]
        items.sort(key=lambda e: json.dumps(e, sort_keys=True))  # a set's order says nothing
        return {"t": cls.__name__, "v": items[:MAX_ITEMS]}
    if cls is dict:
        return {
            "t": "dict",
            "v": [
                [encode(k, depth + 1, inner), encode(v, depth + 1, inner)] for k, v in list(value.items())[:MAX_ITEMS]
            ],
        }
    try:
        state = vars(value)
    except TypeError:
        slots = [s for c in cls.__mro__ for s in getattr(c, "__slots__", ()) if isinstance(s, str)]
        state = {s: getattr(value, s) for s in slots if hasattr(value, s)} if slots else None
    if isinstance(state, dict) and not callable(value):
        return {
            "t": "obj",
            "type": _type_name(value),
            "v": {str(k): encode(v, depth + 1, inner) for k, v in list(state.items())[:MAX_ITEMS]},
        }
    try:
        text = repr(value)
    except Exception as err:  # noqa: BLE001 - a repr that raises is described, never propagated
        text = f"<repr raised {type(err).__name__}>"
    return {"t": "repr", "type": _type_name(value), "v": text[:2000]}


class NotRebuildable(ValueError):
    """The encoded value holds an object that only a description of was kept."""


def decode(node):
    """The builtin value an encoded tree describes (NotRebuildable for objects and reprs)."""
    if node is None or isinstance(node, (bool, str)):
        return node
    if not isinstance(node, dict):
        raise NotRebuildable(f"not an encoded value: {type(node).__name__}")
    tag, v = node.get("t"), node.get("v")
    if node.get("cut"):
        raise NotRebuildable("the value was cut at the size limit")
    if tag == "int":
        return int(v)
    if tag == "float":
        return float(v)
    if tag == "complex":
        return complex(decode(node["re"]), decode(node["im"]))
    if tag in ("bytes", "bytearray"):
        raw = base64.b64decode(v)
        return raw if tag == "bytes" else bytearray(raw)
    if tag == "str":
        return v
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [decode(x) for x in v]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    if tag == "dict":
        return {decode(k): decode(x) for k, x in v}
    raise NotRebuildable(f"a {node.get('type', tag)} object (only its description was recorded)")


def rebuildable(node) -> bool:
    try:
        decode(node)
    except (NotRebuildable, TypeError, ValueError, KeyError):
        return False
    return True
