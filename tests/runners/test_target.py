"""A target is parsed once and written back the one way: `path::qualname`."""

import pytest

from runners.target import SHAPE, Target, TargetError, malformed


@pytest.mark.parametrize(
    "text, path, qualname, function, class_name",
    [
        ("calc.py::add", "calc.py", "add", "add", None),
        ("src/pkg/mod.py::Stack.push", "src/pkg/mod.py", "Stack.push", "push", "Stack"),
        ("mod.py::Outer.Inner.method", "mod.py", "Outer.Inner.method", "method", "Outer.Inner"),
        ("pkg.mod::f", "pkg.mod", "f", "f", None),  # a dotted module as the path
        ("./calc.py::add", "./calc.py", "add", "add", None),  # relative forms are resolved later
        ("../pkg/mod.py::f", "../pkg/mod.py", "f", "f", None),
    ],
)
def test_every_accepted_form_parses_and_round_trips(text, path, qualname, function, class_name):
    target = Target.parse(text)
    assert (target.path, target.qualname) == (path, qualname)
    assert (target.function, target.class_name) == (function, class_name)
    assert str(target) == text and f"{target}" == text
    assert Target.parse(str(target)) == target


@pytest.mark.parametrize("text", ["calc.py", "slugify", "calc.py::", "::add", "::", ""])
def test_a_malformed_target_says_how_a_target_looks(text):
    with pytest.raises(TargetError) as err:
        Target.parse(text)
    assert str(err.value) == f"target {text!r} must look like path/to/file.py::function or path::Class.method"
    assert str(err.value) == malformed(text) and SHAPE in str(err.value)


def test_the_shape_in_the_error_can_be_the_callers():
    with pytest.raises(TargetError, match=r"^target 'x' must look like a::b$"):
        Target.parse("x", shape="a::b")


def test_a_target_is_a_frozen_value():
    target = Target("calc.py", "add")
    assert target == Target.parse("calc.py::add") and hash(target) == hash(Target.parse("calc.py::add"))
    with pytest.raises(AttributeError):
        target.path = "other.py"  # type: ignore[misc]
    assert target.with_path("src/calc.py") == Target("src/calc.py", "add")


def test_the_lenient_readers_take_text_that_may_not_be_a_target():
    assert Target.looks_like("calc.py::add") and not Target.looks_like("calc.py")
    assert Target.path_of("calc.py::add") == "calc.py" and Target.path_of("solution.py") == "solution.py"
    assert Target.qualname_of("calc.py::C.m") == "C.m"
    assert Target.qualname_of("", default="entry") == "entry" and Target.qualname_of("calc.py::") == ""
