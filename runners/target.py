"""A target: the function orps works on, `path/to/file.py::name` or `path::Class.method`.

The one place that knows the text form. `Target.parse` reads it (the path may also be a
dotted module, `pkg.mod::name`, resolved later by `runners.code.locate`); `str(target)` writes
it back the same way. Pytest node ids share the `::` but are not targets: they stay text.
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "::"
SHAPE = "path/to/file.py::function or path::Class.method"
"""How a target looks, as the error for a malformed one says it."""


class TargetError(ValueError):
    """The text is not a target: no `::`, or nothing before or after it."""


def malformed(text: str, shape: str = SHAPE) -> str:
    """The error for `text`, which is not a target."""
    return f"target {text!r} must look like {shape}"


@dataclass(frozen=True)
class Target:
    path: str
    """The file as given (relative to the project once resolved), or a dotted module."""
    qualname: str
    """`name`, `Class.method`, `Outer.Inner.method`."""

    @classmethod
    def parse(cls, text: str, shape: str = SHAPE) -> Target:
        """The target `text` names; TargetError (saying it must look like `shape`) when it
        has no path or no name."""
        path, sep, qualname = text.partition(SEPARATOR)
        if not sep or not path or not qualname:
            raise TargetError(malformed(text, shape))
        return cls(path, qualname)

    @staticmethod
    def looks_like(text: str) -> bool:
        """Whether `text` is meant as a target (it has a `::`), well formed or not."""
        return SEPARATOR in text

    @classmethod
    def qualname_of(cls, text: str, default: str = "") -> str:
        """The qualified name of the target `text`; `default` when it has no `::`."""
        return text.partition(SEPARATOR)[2] if SEPARATOR in text else default

    @classmethod
    def path_of(cls, text: str) -> str:
        """The path part of the target `text` (all of it when it has no `::`)."""
        return text.partition(SEPARATOR)[0]

    def __str__(self) -> str:
        return f"{self.path}{SEPARATOR}{self.qualname}"

    @property
    def function(self) -> str:
        """The function's own name: `method` of `Class.method`."""
        return self.qualname.rpartition(".")[2]

    @property
    def class_name(self) -> str | None:
        """The enclosing class path (`Outer.Inner` of `Outer.Inner.method`); None for a
        top-level function."""
        return self.qualname.rpartition(".")[0] or None

    def with_path(self, path: str) -> Target:
        return Target(path, self.qualname)
