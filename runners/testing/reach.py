"""How a test reaches a method or a function without naming it (for `runners.testing.testselect`).

- a constructor (`__init__`, `__new__`, `__post_init__`) is reached by calling the class;
- a dunder is reached by its operator or builtin: `__eq__` by `==` and `assertEqual`,
  `__add__` by `+` and `sum`, `__len__` by `len()`, `__iter__` by a `for` loop, `__enter__`
  by `with`, `__getitem__` by `x[...]` ... (`operator_use`);
- a class is reached through its aliases (`Alias = Class`) and through its subclasses
  that inherit the method (or override it and call `super()`) (`class_names`);
- a helper that no test names is reached through the functions that call it, and
  theirs (`callers`: a static call graph of the project's modules).
"""

from __future__ import annotations

import ast

CONSTRUCTORS = ("__init__", "__new__", "__post_init__")

_BINARY = {
    ast.Add: ("add", "+"),
    ast.Sub: ("sub", "-"),
    ast.Mult: ("mul", "*"),
    ast.MatMult: ("matmul", "@"),
    ast.Div: ("truediv", "/"),
    ast.FloorDiv: ("floordiv", "//"),
    ast.Mod: ("mod", "%"),
    ast.Pow: ("pow", "**"),
    ast.LShift: ("lshift", "<<"),
    ast.RShift: ("rshift", ">>"),
    ast.BitOr: ("or", "|"),
    ast.BitXor: ("xor", "^"),
    ast.BitAnd: ("and", "&"),
}
_COMPARE = {
    ast.Eq: ("eq", "=="),
    ast.NotEq: ("ne", "!="),
    ast.Lt: ("lt", "<"),
    ast.LtE: ("le", "<="),
    ast.Gt: ("gt", ">"),
    ast.GtE: ("ge", ">="),
    ast.In: ("contains", "in"),
    ast.NotIn: ("contains", "not in"),
}
_UNARY = {ast.USub: ("neg", "-x"), ast.UAdd: ("pos", "+x"), ast.Invert: ("invert", "~x")}
_BUILTINS = {
    "len": ("len",),
    "iter": ("iter",),
    "next": ("next",),
    "str": ("str",),
    "repr": ("repr",),
    "format": ("format",),
    "hash": ("hash",),
    "bool": ("bool",),
    "abs": ("abs",),
    "int": ("int", "index"),
    "float": ("float",),
    "complex": ("complex",),
    "round": ("round",),
    "reversed": ("reversed",),
    "bytes": ("bytes",),
    "divmod": ("divmod",),
    "dir": ("dir",),
    "sorted": ("lt", "iter"),
    "min": ("lt", "iter"),
    "max": ("gt", "lt", "iter"),
    "sum": ("add", "radd", "iter"),
    "list": ("iter", "len"),
    "tuple": ("iter", "len"),
    "set": ("iter", "hash"),
    "frozenset": ("iter", "hash"),
    "dict": ("iter", "getitem"),
    "enumerate": ("iter",),
    "zip": ("iter",),
    "map": ("iter",),
    "filter": ("iter",),
    "any": ("iter",),
    "all": ("iter",),
    "print": ("str",),
    "range": ("index",),
    "copy": ("copy", "reduce_ex", "reduce", "getstate"),
    "deepcopy": ("deepcopy", "reduce_ex", "reduce", "getstate", "setstate"),
    "dumps": ("reduce_ex", "reduce", "getstate"),
    "loads": ("setstate",),
    "isinstance": ("instancecheck",),
    "getattr": ("getattr", "getattribute"),
    "setattr": ("setattr",),
    "delattr": ("delattr",),
}
_ASSERTS = {
    "assertEqual": ("eq",),
    "assertEquals": ("eq",),
    "assertNotEqual": ("ne",),
    "assertIn": ("contains",),
    "assertNotIn": ("contains",),
    "assertLess": ("lt",),
    "assertLessEqual": ("le",),
    "assertGreater": ("gt",),
    "assertGreaterEqual": ("ge",),
    "assertTrue": ("bool",),
    "assertFalse": ("bool",),
    "assertCountEqual": ("iter", "eq", "hash"),
    "assertListEqual": ("eq",),
    "assertDictEqual": ("eq",),
    "assertSetEqual": ("eq", "hash"),
    "assertTupleEqual": ("eq",),
    "assertSequenceEqual": ("eq", "len", "getitem"),
}


def _dunder(short: str) -> str:
    return f"__{short}__"


def operator_use(node: ast.AST, method: str) -> str:
    """How `node` (one AST node, not its children) invokes the dunder `method`, as a short
    reason ("uses ==", "calls len()"); '' when it does not."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        short, sign = _BINARY[type(node.op)]
        if method in (_dunder(short), _dunder("r" + short)):
            return f"uses {sign}"
    if isinstance(node, ast.AugAssign) and type(node.op) in _BINARY:
        short, sign = _BINARY[type(node.op)]
        if method in (_dunder("i" + short), _dunder(short)):
            return f"uses {sign}="
    if isinstance(node, ast.Compare):
        for op in node.ops:
            short, sign = _COMPARE.get(type(op), ("", ""))
            if not short:
                continue  # `is`, `is not`
            reflected = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}.get(short, short)
            if (
                method in (_dunder(short), _dunder(reflected))
                or (short == "ne" and method == "__eq__")
                or (short == "contains" and method == "__iter__")
            ):
                return f"uses {sign}"
    if isinstance(node, ast.UnaryOp):
        if type(node.op) in _UNARY and method == _dunder(_UNARY[type(node.op)][0]):
            return f"uses {_UNARY[type(node.op)][1]}"
        if isinstance(node.op, ast.Not) and method in ("__bool__", "__len__"):
            return "uses not"
    if (
        isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert))
        and method in ("__bool__", "__len__")
        and not isinstance(node.test, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Constant))
    ):
        return "tests its truth"  # `assert cache`, `if cache:` (a comparison's truth is a bool's)
    if isinstance(node, ast.BoolOp) and method in ("__bool__", "__len__"):
        return "uses and/or"
    if isinstance(node, ast.Subscript):
        wanted = {ast.Load: "__getitem__", ast.Store: "__setitem__", ast.Del: "__delitem__"}[type(node.ctx)]
        if method in (wanted, "__class_getitem__", "__missing__"):
            return "indexes it"
    if isinstance(node, (ast.For, ast.comprehension)) and method in ("__iter__", "__next__"):
        return "iterates over it"
    if isinstance(node, (ast.AsyncFor,)) and method in ("__aiter__", "__anext__"):
        return "iterates over it"
    if isinstance(node, (ast.Starred,)) and method == "__iter__":
        return "unpacks it"
    if isinstance(node, ast.With) and method in ("__enter__", "__exit__"):
        return "uses it in a with block"
    if isinstance(node, ast.AsyncWith) and method in ("__aenter__", "__aexit__"):
        return "uses it in an async with block"
    if isinstance(node, ast.Await) and method == "__await__":
        return "awaits it"
    if isinstance(node, ast.FormattedValue) and method in ("__format__", "__str__", "__repr__"):
        return "formats it in an f-string"
    if isinstance(node, (ast.Set, ast.Dict, ast.SetComp, ast.DictComp)) and method in ("__hash__", "__eq__"):
        return "puts it in a set or dict"
    if isinstance(node, ast.Attribute):
        methods = {
            ast.Load: ("__getattr__", "__getattribute__"),
            ast.Store: ("__setattr__",),
            ast.Del: ("__delattr__",),
        }[type(node.ctx)]
        if method in methods:
            return "reads an attribute"
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        for table, shown in ((_BUILTINS, f"calls {name}()"), (_ASSERTS, f"calls {name}")):
            if name in table and method in {_dunder(s) for s in table[name]}:
                return shown
    return ""


def inherits(cls: ast.ClassDef, method: str) -> bool:
    """A subclass reaches the base's `method` when it does not override it, or overrides
    it and calls super() or `Base.method` (cachetools' `cache_getitem=Cache.__getitem__`)."""
    for item in cls.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == method:
            return any(
                (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "super")
                or (isinstance(n, ast.Attribute) and n.attr == method)  # Base.method(self, ...)
                for n in ast.walk(item)
            )
    return True


def class_names(tree: ast.Module, names: set[str], method: str) -> set[str]:
    """Names a module binds to the class (bound to one of `names`) through module-level
    aliases (`Alias = Class`) and subclasses that reach `method` (see `inherits`),
    followed until nothing new is found."""
    found = set(names)
    grew = True
    while grew:
        grew = False
        for node in _module_statements(tree.body):
            new: set[str] = set()
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in found:
                new = {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif (
                isinstance(node, ast.ClassDef)
                and any(_base_name(b) in found for b in node.bases)
                and inherits(node, method)
            ):
                new = {node.name}
            if new - found:
                found |= new
                grew = True
    return found - set(names)


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Subscript):  # Generic[T]-style bases: Base[int]
        base = base.value
    return base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""


def _module_statements(body: list[ast.stmt]):
    for node in body:
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in (
                node.body,
                getattr(node, "orelse", []),
                getattr(node, "finalbody", []),
                *(h.body for h in getattr(node, "handlers", [])),
            ):
                yield from _module_statements(block)
        else:
            yield node


def callers(tree: ast.Module, names: set[str], name: str, cls: str | None) -> list[tuple[str, str | None]]:
    """(function name, its class or None) of the module's functions and methods that call
    the target: a function by one of `names` (what this module binds to it); a method by
    `self.name`/`cls.name`/`Class.name` inside its own class, or, where the module binds
    the class (`names`: semver's `bump_major(v)` returning `Version.parse(v).bump_major()`),
    by `.name` on anything in any function or other class's method."""
    out: list[tuple[str, str | None]] = []

    def uses_attribute(node: ast.AST) -> bool:
        return bool(names) and any(isinstance(n, ast.Attribute) and n.attr == name for n in ast.walk(node))

    for node in _module_statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if cls is None:
                hit = node.name not in names and any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))
            else:
                hit = uses_attribute(node)
            if hit:
                out.append((node.name, None))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if cls is None:
                    hit = any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(item))
                elif node.name == cls:
                    hit = item.name != name and any(
                        isinstance(n, ast.Attribute)
                        and n.attr == name
                        and isinstance(n.value, ast.Name)
                        and n.value.id in ("self", "cls", cls)
                        for n in ast.walk(item)
                    )
                else:
                    hit = uses_attribute(item)
                if hit:
                    out.append((item.name, node.name))
    return out
