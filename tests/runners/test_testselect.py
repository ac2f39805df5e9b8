"""Test selection: static scan for tests that use the target, --tests, -k, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runners.code.locate import locate
from runners.testing.testselect import NoTestsFound, select_tests, test_files

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"

FILES = {
    "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
    "src/shop/__init__.py": "",
    "src/shop/cart.py": (
        "def total(items):\n    return sum(items)\n\n\n"
        "class Cart:\n    def add(self, item):\n        pass\n\n    def clear(self):\n        pass\n"
    ),
    "src/shop/other.py": "def total(x):\n    return x\n",
    "tests/test_cart.py": (
        "import pytest\nfrom shop.cart import Cart, total as cart_total\n\n\n"
        "def test_total():\n    assert cart_total([1, 2]) == 3\n\n\n"
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_total_param(n):\n    assert cart_total([n]) == n\n\n\n"
        "def test_unrelated():\n    assert {1}.union({2})\n\n\n"
        "@pytest.fixture\ndef cart():\n    return Cart()\n\n\n"
        "def test_add_via_fixture(cart):\n    cart.add(1)\n\n\n"
        "class TestCart:\n    def test_clear(self, cart):\n        cart.clear()\n"
    ),
    "tests/test_modstyle.py": "from shop import cart\n\n\ndef test_module_attr():\n    assert cart.total([1]) == 1\n",
    "tests/test_other.py": "from shop.other import total\n\n\ndef test_other_total():\n    assert total(1) == 1\n",
    "tests/unit/test_unittest.py": (
        "import unittest\nfrom shop.cart import Cart\n\n\nclass CartCase(unittest.TestCase):\n"
        "    def setUp(self):\n        self.cart = Cart()\n\n    def test_it(self):\n        self.cart.add(2)\n"
    ),
    "scripts/test_not_in_testpaths.py": "from shop.cart import total\n\n\ndef test_x():\n    total([])\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def select(project, target, **kw):
    return select_tests(project, locate(project, f"src/shop/{target}"), **kw)


def test_testpaths_are_respected(project):
    rels = [p.relative_to(project).as_posix() for p in test_files(project)]
    assert "scripts/test_not_in_testpaths.py" not in rels and "tests/unit/test_unittest.py" in rels


def test_a_function_is_found_through_aliases_and_module_attributes(project):
    selection = select(project, "cart.py::total")
    assert selection.node_ids == [
        "tests/test_cart.py::test_total",
        "tests/test_cart.py::test_total_param",
        "tests/test_modstyle.py::test_module_attr",
    ]
    assert "calls cart_total" in selection.reasons["tests/test_cart.py::test_total"]
    assert "# tests/test_cart.py::test_total\ndef test_total():" in selection.source
    # the same name in another module goes to that module's tests
    assert select(project, "other.py::total").node_ids == ["tests/test_other.py::test_other_total"]


def test_a_method_is_found_through_fixtures_classes_and_setup(project):
    assert select(project, "cart.py::Cart.add").node_ids == [
        "tests/test_cart.py::test_add_via_fixture",
        "tests/unit/test_unittest.py::CartCase::test_it",
    ]
    assert select(project, "cart.py::Cart.clear").node_ids == ["tests/test_cart.py::TestCart::test_clear"]


def test_given_tests_and_k(project):
    given = select(project, "cart.py::total", tests=["tests/test_cart.py"])
    assert len(given.node_ids) == 5 and set(given.reasons.values()) == {"given with --tests"}
    assert select(project, "cart.py::total", tests=["tests/test_cart.py::TestCart"]).node_ids == [
        "tests/test_cart.py::TestCart::test_clear"
    ]
    assert select(project, "cart.py::total", k="param or module").node_ids == [
        "tests/test_cart.py::test_total_param",
        "tests/test_modstyle.py::test_module_attr",
    ]
    assert select(project, "cart.py::total", k="not param and cart").node_ids == ["tests/test_cart.py::test_total"]


def test_errors(project):
    with pytest.raises(NoTestsFound, match="no tests matching -k 'nothing' in .* use total"):
        select(project, "cart.py::total", k="nothing")
    with pytest.raises(NoTestsFound, match="bad -k expression"):
        select(project, "cart.py::total", k="and (")
    with pytest.raises(NoTestsFound, match="no test file or directory tests/missing.py"):
        select(project, "cart.py::total", tests=["tests/missing.py::test_x"])


def test_a_test_given_as_the_target_is_named_a_test_with_what_it_calls(project):
    with pytest.raises(NoTestsFound, match=r"tests/test_cart.py::test_total is a test") as err:
        select_tests(project, locate(project, "tests/test_cart.py::test_total"))
    assert err.value.hint == "target the function it tests, for example src/shop/cart.py::total"
    with pytest.raises(NoTestsFound, match=r"tests/test_cart.py::TestCart::test_clear is a test"):
        select_tests(project, locate(project, "tests/test_cart.py::TestCart.test_clear"))
    with pytest.raises(NoTestsFound, match=r"test_module_attr is a test") as err:
        select_tests(project, locate(project, "tests/test_modstyle.py::test_module_attr"))
    assert "src/shop/cart.py::total" in err.value.hint


def test_a_project_without_test_files_says_so(tmp_path):
    (tmp_path / "m.py").write_text('def f(x):\n    """Double x."""\n    return 2 * x\n')
    with pytest.raises(
        NoTestsFound, match=r"has no test files \(pytest collects files named test_\*.py or \*_test.py\)"
    ) as err:
        select_tests(tmp_path, locate(tmp_path, "m.py::f"))
    assert "tests/test_m.py" in err.value.hint


def test_sample_project():
    located = locate(SAMPLE, "src/textkit/words.py::Counter.add")
    selection = select_tests(SAMPLE, located)
    assert selection.node_ids == ["tests/test_words.py::TestCounter::test_add_counts_case_insensitively"]
    slug = select_tests(SAMPLE, locate(SAMPLE, "src/textkit/words.py::slugify"))
    assert slug.node_ids == [
        "tests/test_words.py::test_slugify_simple",
        "tests/test_words.py::test_slugify_punctuation",
        "tests/test_words.py::test_slugify_runs",
    ]
    with pytest.raises(NoTestsFound):
        select_tests(SAMPLE, locate(SAMPLE, "src/textkit/words.py::_unused_pattern"))


REEXPORT = Path(__file__).parents[1] / "fixtures" / "reexport_project"


def test_reexports_star_renamed_and_twice():
    area = select_tests(REEXPORT, locate(REEXPORT, "src/geo/shapes.py::area"))
    assert area.node_ids == [
        "tests/test_alias.py::test_area_through_module_alias",
        "tests/test_api.py::test_area_reexported_twice",
        "tests/test_star.py::test_area_through_star_reexport",
    ]
    assert area.reasons["tests/test_alias.py::test_area_through_module_alias"].startswith("calls g.area")
    assert area.reasons["tests/test_api.py::test_area_reexported_twice"].startswith("calls compute_area")
    # the same name in an unrelated module keeps its own test
    assert select_tests(REEXPORT, locate(REEXPORT, "src/other.py::area")).node_ids == [
        "tests/test_other.py::test_other_area"
    ]


def test_renamed_reexport_through_a_module_alias():
    dist = select_tests(REEXPORT, locate(REEXPORT, "src/geo/measure.py::distance"))
    assert dist.node_ids == ["tests/test_alias.py::test_distance_through_module_alias"]
    assert dist.reasons[dist.node_ids[0]].startswith("calls g.dist")


def test_methods_through_instances_made_from_a_reexported_class():
    scale = select_tests(REEXPORT, locate(REEXPORT, "src/geo/shapes.py::Circle.scale"))
    assert scale.node_ids == [
        "tests/test_instances.py::test_scale_on_an_instance",
        "tests/test_instances.py::TestCircle::test_scale_in_a_class",
    ]


def test_a_hidden_name_is_not_reexported_by_star(tmp_path):
    for rel, text in {
        "pkg/__init__.py": "from .core import *\n",
        "pkg/core.py": "__all__ = ['pub']\n\ndef pub(): pass\n\ndef hid(): pass\n",
        "tests/test_p.py": "import pkg\n\ndef test_pub():\n    pkg.pub()\n\ndef test_hid():\n    pkg.hid()\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert select_tests(tmp_path, locate(tmp_path, "pkg/core.py::pub")).node_ids == ["tests/test_p.py::test_pub"]
    # `pkg.hid` does not exist at run time: only a name-level guess would find it, and it is not made
    assert "tests/test_p.py::test_pub" not in select_tests(tmp_path, locate(tmp_path, "pkg/core.py::hid")).node_ids


def test_a_test_file_that_does_not_parse_is_left_out_and_named():
    selection = select_tests(REEXPORT, locate(REEXPORT, "src/geo/shapes.py::area"))
    assert list(selection.left_out) == ["tests/test_broken.py"]
    assert "line 4" in selection.left_out["tests/test_broken.py"]


def test_a_test_file_is_split_into_lines_once_however_many_tests_it_has(tmp_path, monkeypatch):
    """Each selected test's source is cut from the file's lines split once, so selection
    grows linearly with a test file's size (`ast.get_source_segment` re-splits the whole
    file per test: quadratic)."""
    import ast
    import sys

    selection_module = sys.modules[select_tests.__module__]
    cut_from, segment = [], selection_module._segment

    def counted(lines, node):
        cut_from.append(id(lines))
        return segment(lines, node)

    def quadratic(*args, **kwargs):
        raise AssertionError("ast.get_source_segment re-splits the whole file for each test")

    monkeypatch.setattr(selection_module, "_segment", counted)
    monkeypatch.setattr(ast, "get_source_segment", quadratic)
    (tmp_path / "mod.py").write_text("def f(x):\n    return x\n")
    (tmp_path / "tests").mkdir()
    body = "from mod import f\n\n" + "".join(f"def test_{i}():\n    assert f({i}) == {i}\n\n\n" for i in range(1250))
    (tmp_path / "tests" / "test_big.py").write_text(body)
    selection = select_tests(tmp_path, locate(tmp_path, "mod.py::f"))
    assert len(selection.node_ids) == 1250
    assert len(cut_from) == 1250 and len(set(cut_from)) == 1  # every test cut from one split of the file


def test_a_test_whose_source_names_nothing_of_the_target_is_not_walked_and_selection_is_unchanged(
    tmp_path, monkeypatch
):
    import sys

    selection_module = sys.modules[select_tests.__module__]
    walked = []
    uses = selection_module._uses
    monkeypatch.setattr(selection_module, "_uses", lambda node, *a: walked.append(node.name) or uses(node, *a))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from .mod import *\n")
    (tmp_path / "pkg" / "mod.py").write_text(
        "__all__ = ['first', 'other']\n\ndef first(x):\n    return x\n\ndef other(x):\n    return x\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text(
        "import pkg as p\nfrom pkg import first as head\n\n\n"
        "def test_alias():\n    assert head([1]) == [1]\n\n\n"
        "def test_module():\n    assert p.first(2) == 2\n\n\n"
        "def test_other():\n    assert p.other(3) == 3\n\n\n"
        "class TestCase:\n    def setup_method(self):\n        self.f = p.other\n\n    def test_helper(self):\n        assert self.f(1) == 1\n"
    )
    selection = select_tests(tmp_path, locate(tmp_path, "pkg/mod.py::first"))
    assert selection.node_ids == ["tests/test_mod.py::test_alias", "tests/test_mod.py::test_module"]
    assert "calls head" in selection.reasons["tests/test_mod.py::test_alias"]
    assert "calls p.first" in selection.reasons["tests/test_mod.py::test_module"]
    assert walked == ["test_alias", "test_module"]  # test_other, test_helper and setup_method: never walked


def test_a_name_spelled_in_another_unicode_form_is_still_found(tmp_path):
    # Python folds identifiers (NFKC): `ﬁrst` (a ligature) is the name `first`; a test in a
    # file that is not ASCII is always walked.
    (tmp_path / "mod.py").write_text("def first(x):\n    return x\n")
    (tmp_path / "test_mod.py").write_text(
        "import mod\n\n\ndef test_lig():\n    assert mod.\ufb01rst(1) == 1\n", encoding="utf-8"
    )
    selection = select_tests(tmp_path, locate(tmp_path, "mod.py::first"))
    assert selection.node_ids == ["test_mod.py::test_lig"]


def test_the_statements_walk_meets_imports_and_classes_in_the_order_a_walk_of_every_node_does():
    import ast

    from runners.testing.testselect import _statements_walk

    source = (
        "import a\n"
        "try:\n    import b\nexcept ImportError:\n    class B:\n        import c\nelse:\n    from d import e\n"
        "finally:\n    import f\n"
        "match x:\n    case 1:\n        import g\n    case _:\n        class G:\n            pass\n"
        "def h():\n    import i\n    with j:\n        class K:\n            from l import m\n"
        "class N:\n    import o\n    def p(self):\n        import q\n"
        "import r\n"
    )
    tree = ast.parse(source)
    kinds = (ast.Import, ast.ImportFrom, ast.ClassDef)
    assert [n for n in _statements_walk(tree) if isinstance(n, kinds)] == [
        n for n in ast.walk(tree) if isinstance(n, kinds)
    ]
    assert [n for n in _statements_walk(tree)] == [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
