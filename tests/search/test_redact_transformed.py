"""Secret masking sees through the forms a candidate could print a secret in to slip it past
a mask of the plain form: split, spaced, reversed, base64, hex, URL-encoded."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from search.redact import MASK, known_secrets, mask_secrets

SECRET = "sk-proj-Zq81mWx0ab3KLmnOp9rStUv"
ENV_SECRET = "hunter2-correct-horse-42"  # no key shape: only known as the environment's value


@pytest.mark.parametrize(
    "shown",
    [
        " ".join(SECRET),  # spaced
        f'"{SECRET[:12]}" + "{SECRET[12:]}"',  # split into a concatenation
        f"{SECRET[:15]}\n{SECRET[15:]}",  # split over two lines
        base64.b64encode(SECRET.encode()).decode(),  # base64
        SECRET.encode().hex(),  # hex
    ],
)
def test_a_key_shaped_secret_is_masked_in_any_form(shown):
    out = mask_secrets(f"leaked: {shown} (end)", secrets=())
    assert MASK in out and out.startswith("leaked: ") and out.endswith("(end)"), out
    for piece in (SECRET[8:20], base64.b64encode(SECRET.encode()).decode()[:20], SECRET.encode().hex()[:20]):
        assert piece not in out


@pytest.mark.parametrize(
    "shown",
    [
        ENV_SECRET,
        " ".join(ENV_SECRET),
        "-".join([ENV_SECRET[:9], ENV_SECRET[9:]]).replace("--", "-"),
        ENV_SECRET[::-1],
        base64.b64encode(ENV_SECRET.encode()).decode(),
        base64.urlsafe_b64encode(ENV_SECRET.encode()).decode().rstrip("="),
        ENV_SECRET.encode().hex().upper(),
        urllib.parse.quote(ENV_SECRET, safe=""),
    ],
)
def test_the_environments_secrets_are_masked_in_any_form(shown):
    out = mask_secrets(f"print({shown!r})", secrets=(ENV_SECRET,))
    assert MASK in out and "hunter2" not in out and "correct-horse" not in out, out


def test_known_secrets_are_the_secret_looking_variables():
    env = {
        "OPENAI_API_KEY": "sk-live-abcdefgh",
        "GITHUB_TOKEN": "ghp_12345678",
        "DB_PASSWORD": "s3cr3tpass",
        "HOME": "/root",
        "SSH_AUTH_SOCK": "/tmp/agent.sock",
        "SHORT_TOKEN": "abc",
        "PATH": "/usr/bin",
    }
    assert known_secrets(env) == ("ghp_12345678", "s3cr3tpass", "sk-live-abcdefgh")


def test_ordinary_feedback_is_not_masked():
    for text in (
        "assert count_words('two  spaces') == 2",
        "E   AssertionError: assert 3 == 2",
        "tests/test_text.py::test_double_spaces FAILED",
        "a b c d e f g h i j k",
        "deadbeefcafe",
        "where 3 = count_words('two  spaces')",
        "test_slugify_punctuation_with_long_names",
    ):
        assert mask_secrets(text, secrets=(ENV_SECRET,)) == text
