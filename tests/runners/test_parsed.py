"""One parse of a source text per process (runners/code/parsed.py): the same text gives the
same tree, a changed text a new one, a text that does not parse an error every time."""

from __future__ import annotations

import ast

import pytest

from runners.code import parsed
from runners.code.authorship import candidate_lines
from runners.code.locate import locate
from runners.code.splice import splice_candidate


def test_the_same_text_is_parsed_once_and_a_changed_text_again(monkeypatch):
    calls = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: calls.append(source) or real(source, *a, **k))
    text = "def f():\n    return 1  # parsed once\n"
    first = parsed.python_tree(text)
    assert parsed.python_tree(text) is first and parsed.python_tree(text, "other.py") is first
    assert calls == [text]
    changed = parsed.python_tree(text.replace("1", "2"))
    assert changed is not first and ast.unparse(changed).endswith("return 2")
    assert parsed.python_tree(text.encode()) is not first  # bytes are parsed as bytes (their coding line)
    assert parsed.syntax_tree(text.encode()) is parsed.syntax_tree(text.encode())


def test_a_text_that_does_not_parse_raises_every_time_and_is_not_kept():
    for _ in range(2):
        with pytest.raises(SyntaxError) as err:
            parsed.python_tree("def f(:\n", "mod.py")
        assert err.value.filename == "mod.py"


def test_only_the_most_recent_texts_are_kept():
    texts = [f"x = {n}  # kept or not\n" for n in range(parsed.KEPT + 1)]
    trees = [parsed.python_tree(t) for t in texts]
    assert parsed.python_tree(texts[-1]) is trees[-1]
    assert parsed.python_tree(texts[0]) is not trees[0]  # pushed out: parsed again


def test_locating_selecting_splicing_and_finding_the_candidates_lines_parse_a_module_once_each_text(
    tmp_path, monkeypatch
):
    from runners.testing.testselect import select_tests

    module = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" for n in range(50))
    (tmp_path / "mod.py").write_text(module)
    (tmp_path / "test_mod.py").write_text("from mod import f7\n\n\ndef test_f7():\n    assert f7(1) == 8\n")
    calls = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: calls.append(source) or real(source, *a, **k))
    located = locate(tmp_path, "mod.py::f7")
    assert select_tests(tmp_path, located).node_ids == ["test_mod.py::test_f7"]
    spliced = splice_candidate(module, "f7", "def f7(x):\n    return x * 7\n")
    assert candidate_lines(module, spliced, "f7") == [(29, 30)]
    big = [c for c in calls if len(c) >= len(module)]
    assert len(big) == len({c if isinstance(c, str) else c.decode() for c in big}) == 2  # the module, the result
    assert located.source.startswith("def f7")
