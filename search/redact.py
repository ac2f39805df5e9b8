"""Mask key-shaped text before it can reach a model (or a result a user might share).

Candidate code is model-written: whatever a test run prints, raises or fails with goes back
to the model as feedback. The sandbox keeps secrets out of reach; this is the second line
for what is reachable anyway (a project's own test output, an error quoting a config).
It covers the common shapes of provider keys, private-key blocks, JWTs, URLs with
passwords and `password=...`-style assignments. It cannot recognise a secret that looks
like ordinary text (a plain password in a message): keep those out of the sandbox.

A candidate that reached a secret can also print it transformed, to get it past a mask of
its plain form. So, besides the plain shapes:
- the values of this process's secret-looking environment variables (`*KEY*`, `*TOKEN*`,
  `*SECRET*`, `*PASSWORD*`, ...) are masked wherever they appear, also split or spaced
  (any few separators between any characters), reversed, base64-, hex- or URL-encoded;
- base64 and hex runs are decoded, and masked when what they hide is key-shaped;
- runs of short pieces separated by spaces, quotes, `+` or line breaks (`s k - p r o j ...`,
  `"sk-pr" + "oj-..."`) are read joined, and masked when the joined text is key-shaped.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import urllib.parse
from collections.abc import Mapping

MASK = "[masked]"

_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),  # GitLab
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b"),  # OpenAI, Anthropic
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),  # Hugging Face
    re.compile(r"\b(?:sk|rk|pk)_live_[A-Za-z0-9]{20,}\b"),  # Stripe
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
]
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)", re.I)
_ASSIGNMENT = re.compile(
    r"""(\b[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)s?[\w.-]*"""
    r"""["']?\s*[:=]\s*["']?)((?=[^\s"',;()]*\d)[^\s"',;()]{6,})""",
    re.I,
)
"""`password = "hunter22"`: the value masked when it looks like a secret (six or more
characters with a digit), so `token = next_token(s)` in a traceback stays readable."""


SECRET_VARIABLE = re.compile(r"KEY|TOKEN|SECRET|PASSW|PASSWD|PWD|CREDENTIAL|AUTH", re.I)
MIN_SECRET_LEN = 8
"""Shorter values (`1`, `true`, a port) are not worth masking and would mask ordinary text."""
_SEPARATORS = r"""[\s"'`+,.:;|\\_-]{0,4}"""
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}){10,}\b")
_SPREAD = re.compile(r"""(?:[A-Za-z0-9_-]{1,6}[\s"'`+,|]{1,6}){5,}[A-Za-z0-9_-]{1,6}""")
"""Runs of short pieces with separators between them: how a key is printed spaced or split."""
_KEY_START_SPLIT = re.compile(
    r"""\b(?:sk-|[rp]k_live_|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AIza|hf_|AKIA|ASIA|eyJ)[A-Za-z0-9_.-]*"""
    r"""(?:[\s"'`+,|]{1,8}[A-Za-z0-9_.-]+){1,3}"""
)
"""A key's known prefix and the pieces after it: a key split in two or three longer parts."""


def known_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of secret-looking environment variables (the API keys orps itself holds)."""
    environ = os.environ if environ is None else environ
    return tuple(
        sorted(
            {
                v
                for k, v in environ.items()
                if SECRET_VARIABLE.search(k) and len(v.strip()) >= MIN_SECRET_LEN and not os.path.isabs(v)
            }
        )
    )


@functools.lru_cache(maxsize=8)
def _value_patterns(secrets: tuple[str, ...]) -> list[re.Pattern[str]]:
    """For each secret: its plain, reversed and encoded forms, each spread over separators."""
    patterns = []
    for secret in secrets:
        raw = secret.encode()
        forms = {
            secret,
            secret[::-1],
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(),
            urllib.parse.quote(secret, safe=""),
        }
        for form in forms:
            spread = _SEPARATORS.join(re.escape(ch) for ch in form)
            patterns.append(re.compile(spread, re.I if form == raw.hex() else 0))
    return patterns


def _key_shaped(text: str) -> bool:
    return any(p.search(text) for p in _PATTERNS)


def _decoded(run: str) -> str:
    """What a base64 or hex run hides, as text ("" when it is neither)."""
    candidates = []
    if _HEX_RUN.fullmatch(run):
        try:
            candidates.append(bytes.fromhex(run))
        except ValueError:
            pass
    body = run.rstrip("=")
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            candidates.append(decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            continue
    return "\n".join(c.decode("utf-8", "ignore") for c in candidates)


def mask_secrets(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """`text` with key-shaped substrings, and the environment's secrets in any of the forms
    above, replaced by `[masked]`. `secrets`: the values to look for (default: this process's
    secret-looking environment variables)."""
    if not text:
        return text
    for pattern in _value_patterns(known_secrets() if secrets is None else secrets):
        text = pattern.sub(MASK, text)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    text = _BASE64_RUN.sub(lambda m: MASK if _key_shaped(_decoded(m.group(0))) else m.group(0), text)
    text = _HEX_RUN.sub(lambda m: MASK if _key_shaped(_decoded(m.group(0))) else m.group(0), text)
    text = _KEY_START_SPLIT.sub(
        lambda m: MASK if _key_shaped(re.sub(r"""[\s"'`+,|]""", "", m.group(0))) else m.group(0), text
    )
    text = _SPREAD.sub(lambda m: MASK if _key_shaped(re.sub(r"""[\s"'`+,|]""", "", m.group(0))) else m.group(0), text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return _ASSIGNMENT.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == MASK else MASK), text)
