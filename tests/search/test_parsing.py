"""Reading the candidate out of a model's answer (search.parsing): fences inside the code."""

from __future__ import annotations

import ast

from search.parsing import code_block_closed, parse_program, strip_fences

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


def _first_stop(answer: str, entry_point: str) -> str | None:
    """The answer as a generation that stops at `code_block_closed` would leave it, read one
    character at a time (a token can be as short as one)."""
    for end in range(1, len(answer) + 1):
        if code_block_closed(answer[:end], entry_point):
            return answer[:end]
    return None


def test_a_generation_stops_at_the_fence_closing_the_block_and_keeps_the_whole_candidate():
    answer = f"Reasoning: the teens are special.\n\n```python\n{ORDINAL}\n```\n\nThat handles 11, 12 and 13."
    stopped = _first_stop(answer, "ordinal")
    assert stopped == answer[: answer.index("```\n\nThat") + 3]
    assert parse_program(stopped, "ordinal").code == parse_program(answer, "ordinal").code == ORDINAL


def test_no_stop_inside_a_docstrings_markdown_fence_or_at_a_comment_quoting_one():
    fixed = "def f(x):\n    y = x + 1\n    # markdown uses ``` for code\n    return y"
    in_docstring = 'def f(x):\n    """Example:\n\n```\nf(1)\n```\n"""\n    return x'
    for code in (ORDINAL, fixed, in_docstring):
        answer = f"```python\n{code}\n```\nMore prose."
        assert _first_stop(answer, "ordinal" if code is ORDINAL else "f") == f"```python\n{code}\n```"


def test_no_stop_until_a_block_defines_the_function_parses_and_is_python():
    usage_first = "```python\nprint(f(1))\n```\nNow:\n```python\ndef f(x):\n    return x + 1\n```\nDone."
    assert _first_stop(usage_first, "f") == usage_first[: -len("\nDone.")]
    assert _first_stop("```bash\ndef f(x):\n```\n", "f") is None
    assert _first_stop("```python\ndef f(x):\n    return (x\n```\nand more", "f") is None
    assert _first_stop("```python\ndef f(x):\n    return x\n    ```\n", "f") is None  # deeper than its opening
    assert _first_stop("def f(x):\n    return x\n```\n", "f") is None  # a fence that opens nothing
