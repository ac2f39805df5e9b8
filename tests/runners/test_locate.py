"""Locating targets and splicing candidates in their place (runners.code.locate, runners.code.splice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runners.code.locate import LocateError, list_functions, locate
from runners.code.splice import SpliceError, splice_candidate

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"

SOURCE = '''#!/usr/bin/env python
"""Module doc."""
from __future__ import annotations

import os  # the user's comment

LIMIT = 3  # a comment that must survive


@decorator(1)
def target(x: int) -> int:
    """Double x."""
    return x + x  # old


class Box:
    """A box."""

    # a comment before make
    @staticmethod
    def make(n):
        return [n]

    async def fetch(self):
        """Fetch it.

        Over several lines.
        """
        return 1

    class Inner:
        def deep(self):
            return 0


def other():
    return os.sep
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "src" / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "sub" / "mod.py").write_text(SOURCE)
    return tmp_path


def test_locate_function(project):
    found = locate(project, "src/pkg/sub/mod.py::target")
    assert found.path == "src/pkg/sub/mod.py" and found.qualname == "target"
    assert found.signature == "def target(x: int) -> int:" and found.docstring == "Double x."
    assert found.source.startswith("@decorator(1)\ndef target") and found.source.endswith("# old")
    assert (found.start_line, found.end_line, found.indent, found.is_async) == (10, 13, "", False)
    raw = (project / found.path).read_bytes()
    assert raw[found.start_byte : found.end_byte].decode() == found.source


def test_locate_methods_nested_and_async(project):
    make = locate(project, "src/pkg/sub/mod.py::Box.make")
    assert make.indent == "    " and make.source.startswith("@staticmethod\ndef make(n):\n    return [n]")
    fetch = locate(project, "src/pkg/sub/mod.py::Box.fetch")
    assert fetch.is_async and fetch.docstring == "Fetch it.\n\nOver several lines."
    assert fetch.signature == "async def fetch(self):"
    assert locate(project, "src/pkg/sub/mod.py::Box.Inner.deep").indent == " " * 8


def test_locate_accepts_a_dotted_module(project):
    assert locate(project, "pkg.sub.mod::target").path == "src/pkg/sub/mod.py"


def test_list_functions(project):
    found = list_functions(project / "src/pkg/sub/mod.py")
    assert [f.qualname for f in found] == ["target", "Box.make", "Box.fetch", "Box.Inner.deep", "other"]
    assert (found[2].line, found[2].doc, found[2].is_async) == (24, "Fetch it.", True)
    qualname, line, doc = found[0]  # unpacks as a tuple too
    assert (qualname, line, doc) == ("target", 10, "Double x.")


def test_locate_errors_name_close_matches(project):
    with pytest.raises(LocateError, match="did you mean target"):
        locate(project, "src/pkg/sub/mod.py::targe")
    with pytest.raises(LocateError, match=r"did you mean Box\.make"):
        locate(project, "src/pkg/sub/mod.py::Box.mak")
    with pytest.raises(LocateError, match="it defines target, Box.make"):
        locate(project, "src/pkg/sub/mod.py::zzz")
    with pytest.raises(LocateError, match="did you mean src/pkg/sub/mod.py"):
        locate(project, "src/pkg/sub/mods.py::target")
    with pytest.raises(LocateError, match="inside it"):
        locate(project, "../mod.py::target")
    with pytest.raises(LocateError, match="must look like"):
        locate(project, "src/pkg/sub/mod.py")


def test_splicing_every_function_back_gives_the_same_file(project):
    for info in list_functions(project / "src/pkg/sub/mod.py"):
        found = locate(project, f"src/pkg/sub/mod.py::{info.qualname}")
        assert splice_candidate(SOURCE, info.qualname, found.source) == SOURCE, info.qualname


def test_splice_keeps_the_rest_byte_for_byte():
    candidate = (
        "import math\nimport os\nfrom os import path as p\nHELP = 2\n\ndef helper(v):\n"
        "    return v * HELP\n\ndef target(x):\n    return helper(math.floor(x)) if p else 0\n\nprint(target(3))\n"
    )
    out = splice_candidate(SOURCE, "target", candidate)
    # the user's decorator, signature (annotations) and docstring kept, body replaced
    assert (
        '@decorator(1)\ndef target(x: int) -> int:\n    """Double x."""\n    return helper(math.floor(x)) if p else 0\n'
        in out
    )
    # new imports join the leading import block, once, after the user's line and its comment
    assert "import os  # the user's comment\nimport math\nfrom os import path as p\n\nLIMIT" in out
    assert out.count("import os") == 1
    # helpers right before the target, example calls dropped
    assert out.index("LIMIT = 3") < out.index("HELP = 2") < out.index("def helper") < out.index("@decorator(1)")
    assert "print(target(3))" not in out
    assert out.endswith(SOURCE[SOURCE.index("\n\nclass Box") :])
    assert out.startswith('#!/usr/bin/env python\n"""Module doc."""\nfrom __future__ import annotations\n')


def test_splice_does_not_duplicate_what_the_module_already_defines():
    # A model often echoes the whole module back: the user's other code must win.
    echoed = SOURCE.replace("return x + x  # old", "return 2 * x").replace("return os.sep", "return 'changed'")
    out = splice_candidate(SOURCE, "target", echoed)
    assert out == SOURCE.replace("return x + x  # old", "return 2 * x")


@pytest.mark.parametrize(
    "candidate",
    [
        "def make(n):\n    return [n, n]\n",  # written as a top-level function
        "    def make(n):\n        return [n, n]\n",  # copied out of the class, still indented
        "class Box:\n    def make(n):\n        return [n, n]\n",  # the whole class rewritten
        "```python\ndef make(n):\n    return [n, n]\n```\n",  # still in a chat fence
    ],
)
def test_splice_method_in_any_shape_keeps_its_decorator(candidate):
    out = splice_candidate(SOURCE, "Box.make", candidate)
    assert "    # a comment before make\n    @staticmethod\n    def make(n):\n        return [n, n]\n\n    async" in out
    assert out.count("class Box") == 1


def test_splice_takes_the_fence_that_defines_the_target_as_parse_program_does():
    # One fence reader (search.parsing.strip_fences) for model answers and pasted candidates:
    # a chat answer that shows a usage example first still gives the target's definition.
    from search.parsing import parse_program

    answer = (
        "Use it like this:\n```python\ndef example():\n    return Box.make(1)\n```\n"
        "The fix:\n```python\ndef make(n):\n    return [n, n]\n```\n"
    )
    out = splice_candidate(SOURCE, "Box.make", answer)
    assert "        return [n, n]\n" in out and "example" not in out
    assert parse_program(answer, "make").code == "def make(n):\n    return [n, n]"


def test_splice_candidate_decorators_replace_the_original():
    out = splice_candidate(SOURCE, "target", "@other_decorator\ndef target(x):\n    return 2 * x\n")
    assert "@decorator(1)" not in out and "@other_decorator\ndef target(x: int) -> int:" in out


def test_splice_nested_method_and_async_switch():
    out = splice_candidate(SOURCE, "Box.Inner.deep", "def deep(self):\n    return 5\n")
    assert "        def deep(self):\n            return 5\n" in out
    out = splice_candidate(SOURCE, "other", "async def other():\n    return 1\n")
    assert out.endswith("async def other():\n    return 1\n")


def test_splice_method_helpers_go_before_the_class():
    out = splice_candidate(SOURCE, "Box.make", "FACTOR = 2\n\ndef make(n):\n    return [n] * FACTOR\n")
    assert out.index("FACTOR = 2") < out.index("class Box") and "\n    def make(n):\n        return [n] * FACTOR" in out


def test_splice_never_reindents_inside_strings():
    candidate = 'def fetch(self):\n    text = """\nline one\n  line two\n"""\n    return text\n'
    out = splice_candidate(SOURCE, "Box.fetch", candidate)
    assert '        text = """\nline one\n  line two\n"""\n        return text' in out
    namespace: dict = {}
    exec(compile(out.replace("@decorator(1)", ""), "m", "exec"), namespace)
    assert namespace["Box"]().fetch() == "\nline one\n  line two\n"


def test_splice_keeps_a_dropped_docstring_with_its_lines():
    out = splice_candidate(SOURCE, "Box.fetch", "async def fetch(self):\n    return 2\n")
    assert (
        '    async def fetch(self):\n        """Fetch it.\n\n        Over several lines.\n        """\n        return 2\n'
        in out
    )


def test_splice_keeps_crlf_line_endings():
    crlf = SOURCE.replace("\n", "\r\n")
    out = splice_candidate(crlf, "other", "def other():\r\n    return 1\r\n")
    assert out == crlf.replace("return os.sep", "return 1")


def test_splice_into_a_module_without_imports_or_docstring():
    out = splice_candidate("def f():\n    return 1\n", "f", "import math\n\ndef f():\n    return math.pi\n")
    assert out == "import math\n\ndef f():\n    return math.pi\n"
    out = splice_candidate("# licence\ndef f():\n    return 1\n", "f", "import math\ndef f():\n    return math.pi\n")
    assert out.startswith("# licence\nimport math\ndef f():")


def test_future_imports_in_the_candidate_are_not_moved_below_others():
    out = splice_candidate(
        SOURCE, "target", "from __future__ import annotations\nimport re\n\ndef target(x):\n    return re.escape(x)\n"
    )
    assert out.count("from __future__") == 1 and "import re" in out


@pytest.mark.parametrize(
    "candidate, message",
    [
        ("def target(:\n", r"syntax error at line 1: .*'def target\(:'"),
        ("x = 1\ny = (\n", "syntax error at line 2"),
        ("def something_else():\n    pass\n", r"does not define target \(it defines something_else\)"),
        ("", "does not define target"),
    ],
)
def test_splice_rejects_bad_candidates(candidate, message):
    with pytest.raises(SpliceError, match=message):
        splice_candidate(SOURCE, "target", candidate)


def test_splice_unknown_target():
    with pytest.raises(SpliceError, match="no function targt in the file; did you mean target"):
        splice_candidate(SOURCE, "targt", "def targt():\n    pass\n")


def test_sample_project_layout_is_found():
    assert locate(SAMPLE, "src/textkit/words.py::Counter.add").qualname == "Counter.add"
    assert locate(SAMPLE, "src/textkit/words.py::fetch_title").is_async


def test_a_property_target_is_its_getter_and_overloads_their_implementation():
    source = (
        "class C:\n    @property\n    def v(self):\n        return 1\n\n    @v.setter\n    def v(self, x):\n"
        "        self.x = x\n\n\n@overload\ndef f(x: int) -> int: ...\n\n\ndef f(x):\n    return x\n"
    )
    out = splice_candidate(source, "C.v", "def v(self):\n    return 2\n")
    assert "    @property\n    def v(self):\n        return 2\n\n    @v.setter\n    def v(self, x):" in out
    out = splice_candidate(source, "f", "def f(x):\n    return -x\n")
    assert out.endswith("@overload\ndef f(x: int) -> int: ...\n\n\ndef f(x):\n    return -x\n")


KEEP = '''import functools


@functools.cache
def slugify(
    title: str,  # the user's comment
    sep: str = "-",
) -> str:
    """Lowercase words joined by `sep`.

    Several lines.
    """
    return title  # old
'''


def test_a_candidate_without_annotations_or_docstring_changes_only_the_body():
    out = splice_candidate(
        KEEP, "slugify", "def slugify(title, sep='_'):\n    return sep.join(title.lower().split())\n"
    )
    assert out == KEEP.replace("return title  # old", "return sep.join(title.lower().split())")


def test_a_rewritten_docstring_and_echoed_decorators_keep_the_users():
    candidate = (
        '@functools.cache\ndef slugify(title, sep=None):\n    """Make a slug."""\n    words = title.split()\n'
        "    return sep.join(words)\n"
    )
    out = splice_candidate(KEEP, "slugify", candidate)
    assert out == KEEP.replace("    return title  # old", "    words = title.split()\n    return sep.join(words)")


@pytest.mark.parametrize(
    "candidate, signature",
    [
        ("def slugify(title, sep='-', upper=False):\n    return title\n", "def slugify(title, sep='-', upper=False):"),
        ("def slugify(text, sep='-'):\n    return text\n", "def slugify(text, sep='-'):"),
        ("def slugify(title, sep):\n    return title\n", "def slugify(title, sep):"),
        ("async def slugify(title, sep='-'):\n    return title\n", "async def slugify(title, sep='-'):"),
    ],
)
def test_a_real_interface_change_keeps_the_candidates_signature(candidate, signature):
    out = splice_candidate(KEEP, "slugify", candidate)
    assert signature in out and "title: str" not in out
