"""Reading the candidate out of a model's answer (search.parsing): fences inside the code."""

from __future__ import annotations

import ast

from search.parsing import parse_program, strip_fences

# Shaped like humanize's number.ordinal: every public function of humanize has a Markdown
# example (```pycon ... ```) in its docstring.
ORDINAL = '''def ordinal(value, gender="male"):
    """Converts an integer to its ordinal as a string.

    Examples:
        ```pycon
        >>> ordinal(1)
        '1st'
        >>> ordinal(111)
        '111th'

        ```

    Args:
        value (int, str, float): Integer to convert.
    """
    try:
        value = int(value)
    except (TypeError, ValueError):
        return str(value)
    t = ("th", "st", "nd", "rd") + ("th",) * 6
    if value % 100 in (11, 12, 13):  # special case
        return f"{value}{t[0]}"
    return f"{value}{t[value % 10]}"'''


def test_a_docstring_holding_a_markdown_fence_does_not_cut_the_candidate():
    answer = f"Reasoning: the teens are special.\n\n```python\n{ORDINAL}\n```\n\nThat handles 11, 12 and 13."
    parsed = parse_program(answer, "ordinal")
    assert parsed.code == ORDINAL and parsed.notes == []
    assert parsed.reasoning == "Reasoning: the teens are special."
    assert strip_fences(answer, "ordinal") == ORDINAL + "\n"


def test_the_block_still_ends_at_its_own_fence_with_other_blocks_after_it():
    answer = (
        f"```python\n{ORDINAL}\n```\nTry it:\n```pycon\n>>> ordinal(3)\n'3rd'\n```\n"
        "Or as a script:\n```python\nprint(ordinal(3))\n```\n"
    )
    parsed = parse_program(answer, "ordinal")
    assert parsed.code == ORDINAL and parsed.notes == ["3 code blocks; picked one"]


def test_a_comment_quoting_a_fence_and_a_draft_then_a_correction():
    fixed = "def f(x):\n    y = x + 1\n    # markdown uses ``` for code\n    return y"
    answer = f"Draft:\n```python\ndef f(x):\n    return x\n```\nBetter:\n```python\n{fixed}\n```\n"
    assert parse_program(answer, "f").code == fixed


def test_a_truncated_answer_with_a_fenced_docstring_keeps_what_parses():
    cut = ORDINAL[: ORDINAL.index("    t = (")]  # the token limit hit inside the body
    parsed = parse_program(f'```python\n{cut}    t = ("th",', "ordinal", finish_reason="length")
    assert "code did not parse; dropped its unfinished tail" in parsed.notes
    ast.parse(parsed.code)
    assert "```pycon" in parsed.code and parsed.code.rstrip().endswith("return str(value)")


def test_a_block_that_does_not_parse_ends_at_the_first_fence_alone_on_its_line():
    broken = 'def f(x):\n    """Doc.\n\n        ```\n        f(1)\n        ```\n    """\n    return x +\n'
    answer = f"```python\n{broken}```\nNot code: ```inline``` and more prose.\n"
    assert strip_fences(answer, "f") == broken


def test_other_languages_end_at_their_first_fence():
    answer = "```bash\npip install x\n```\n```python\ndef f():\n    return 1\n```\n"
    assert parse_program(answer, "f").code == "def f():\n    return 1"
