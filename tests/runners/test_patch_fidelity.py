"""A proposal changes the changed statements only: the rest of the user's text (comments,
blank lines, quote style, decorators, comment placement) stays byte for byte, a candidate
identical to the original gives no patch, and what the candidate added but does not use
stays out. The module is shaped like inflection's `__init__.py` (single quotes, comments
inside the body and inside an `if`, a docstring with an example)."""

from __future__ import annotations

import ast

import pytest

from runners.code.patch import make_patch
from runners.code.splice import splice_candidate

INFLECTION = '''# -*- coding: utf-8 -*-
"""
    inflection
    ~~~~~~~~~~~~
"""
import re
import unicodedata

__version__ = '0.5.1'


def transliterate(string: str) -> str:
    normalized = unicodedata.normalize('NFKD', string)
    return normalized.encode('ascii', 'ignore').decode('ascii')


def parameterize(string: str, separator: str = '-') -> str:
    """
    Replace special characters in a string so that it may be used as part of a
    'pretty' URL.

    Example::

        >>> parameterize(u"Donald E. Knuth")
        'donald-e-knuth'

    """
    string = transliterate(string)
    # Turn unwanted chars into the separator
    string = re.sub(r"(?i)[^a-z0-9\\-_]+", separator, string)
    if separator:
        re_sep = re.escape(separator)
        # No more than one of the separator in a row.
        string = re.sub(r'%s{2,}' % re_sep, separator, string)
        # Remove leading/trailing separator.
        string = re.sub(r"(?i)^{sep}|{sep}$".format(sep=re_sep), '', string)

    return string.lower()


def pluralize(word: str) -> str:
    return word + 's'
'''

# What a model writes back: black's double quotes, no comments, a one-line docstring, and
# one real change (casefold).
REFORMATTED = '''def parameterize(string: str, separator: str = "-") -> str:
    """Replace special characters in a string."""
    string = transliterate(string)
    string = re.sub(r"(?i)[^a-z0-9\\-_]+", separator, string)
    if separator:
        re_sep = re.escape(separator)
        string = re.sub(r"%s{2,}" % re_sep, separator, string)
        string = re.sub(r"(?i)^{sep}|{sep}$".format(sep=re_sep), "", string)
    return string.casefold()
'''


def patch_of(candidate: str, target: str = "parameterize") -> str:
    return make_patch("inflection/__init__.py", INFLECTION, splice_candidate(INFLECTION, target, candidate))


def changed_lines(patch: str) -> list[str]:
    return [line for line in patch.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_the_functions_own_source_gives_an_empty_patch():
    start = INFLECTION.index("def parameterize")
    own = INFLECTION[start : INFLECTION.index("\n\n\ndef pluralize")] + "\n"
    assert patch_of(own) == ""
    # ... and so does the whole module echoed back
    assert patch_of(INFLECTION) == ""


def test_a_reformatted_candidate_changes_only_the_statement_it_changed():
    assert changed_lines(patch_of(REFORMATTED)) == ["-    return string.lower()", "+    return string.casefold()"]


def test_a_changed_statement_inside_an_if_keeps_the_comments_around_it():
    candidate = REFORMATTED.replace('"%s{2,}" % re_sep', '"%s+" % re_sep').replace("casefold", "lower")
    assert changed_lines(patch_of(candidate)) == [
        "-        string = re.sub(r'%s{2,}' % re_sep, separator, string)",
        '+        string = re.sub(r"%s+" % re_sep, separator, string)',
    ]


def test_a_comment_at_the_start_of_the_body_stays_below_the_docstring():
    # The user's body starts with a comment; the candidate, with or without a docstring,
    # changes the statement after it: the docstring stays first, the comment after it.
    source = INFLECTION.replace(
        "    string = transliterate(string)\n", "    # ASCII first\n    string = transliterate(string)\n"
    )
    for doc in ("", '    """Other words."""\n'):
        for comment in ("", "    # ASCII first\n"):
            candidate = (
                f"def parameterize(string, separator='-'):\n{doc}{comment}"
                "    string = transliterate(string.strip())\n    return string\n"
            )
            out = splice_candidate(source, "parameterize", candidate)
            assert (
                '        \'donald-e-knuth\'\n\n    """\n    # ASCII first\n    string = transliterate(string.strip())\n'
                "\n    return string\n\n\ndef pluralize" in out
            ), (doc, comment)  # the user's blank line too
            ast.parse(out)


def test_a_statement_the_candidate_adds_and_a_statement_it_removes():
    candidate = REFORMATTED.replace(
        "    return string.casefold()\n", "    string = string.strip()\n    return string.lower()\n"
    )
    assert changed_lines(patch_of(candidate)) == ["+    string = string.strip()"]
    candidate = REFORMATTED.replace('        string = re.sub(r"%s{2,}" % re_sep, separator, string)\n', "")
    assert changed_lines(patch_of(candidate.replace("casefold", "lower"))) == [
        "-        # No more than one of the separator in a row.",
        "-        string = re.sub(r'%s{2,}' % re_sep, separator, string)",
    ]


def test_a_candidate_indented_with_two_spaces_is_put_at_the_users_indentation():
    candidate = (
        "def parameterize(string, separator='-'):\n  string = transliterate(string)\n"
        "  if separator:\n    string = string.replace(' ', separator)\n  return string.lower()\n"
    )
    out = splice_candidate(INFLECTION, "parameterize", candidate)
    assert (
        "    string = transliterate(string)\n    if separator:\n        string = string.replace(' ', separator)\n"
        "\n    return string.lower()\n" in out
    )  # the user's blank line before the unchanged return stays
    ast.parse(out)


def test_unused_imports_and_helpers_of_the_candidate_stay_out():
    candidate = (
        "import os\nimport string as strings\nfrom functools import lru_cache, reduce\n\n"
        "SEPARATORS = '-_'\n\n\ndef _unused_helper():\n    return os.sep\n\n\n"
        "def _squeeze(text, sep):\n    return reduce(lambda a, b: a + b, text.split(sep * 2))\n\n\n"
        + REFORMATTED.replace("return string.casefold()", "return _squeeze(string, separator).lower()")
    )
    out = splice_candidate(INFLECTION, "parameterize", candidate)
    assert "_unused_helper" not in out and "SEPARATORS" not in out and "import os" not in out
    assert "lru_cache" not in out and "strings" not in out
    assert "import unicodedata\nfrom functools import reduce\n" in out and "def _squeeze(text, sep):" in out


@pytest.mark.parametrize("decorated", ["@functools.cache\n", "@property\n"])
def test_the_users_decorators_stay_when_the_candidate_drops_them(decorated):
    source = INFLECTION.replace("def pluralize", decorated + "def pluralize")
    out = splice_candidate(source, "pluralize", 'def pluralize(word: str) -> str:\n    return word + "es"\n')
    assert changed_lines(make_patch("m.py", source, out)) == ["-    return word + 's'", '+    return word + "es"']


def test_every_function_rewritten_by_ast_unparse_gives_the_file_back():
    # ast.unparse drops every comment, re-quotes every string and reflows every call: the
    # statements are the same, so nothing changes. A line of spaces survives too (boltons'
    # timeutils has one inside a function).
    source = INFLECTION.replace("    string = transliterate(string)\n", "    string = transliterate(string)\n    \n")
    for name in ("transliterate", "parameterize", "pluralize"):
        func = next(n for n in ast.parse(source).body if getattr(n, "name", "") == name)
        assert splice_candidate(source, name, ast.unparse(func)) == source, name
