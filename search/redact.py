"""Mask key-shaped text before it can reach a model (or a result a user might share).

Candidate code is model-written: whatever a test run prints, raises or fails with goes back
to the model as feedback. The sandbox keeps secrets out of reach; this is the second line
for what is reachable anyway (a project's own test output, an error quoting a config).
It covers the common shapes of provider keys, private-key blocks, JWTs, URLs with
passwords and `password=...`-style assignments. It cannot recognise a secret that looks
like ordinary text (a plain password in a message): keep those out of the sandbox.
"""

from __future__ import annotations

import re

MASK = "[masked]"

_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),                       # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),                       # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),                         # GitLab
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b"),             # OpenAI, Anthropic
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),                    # Slack
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),                            # Google API key
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),                              # Hugging Face
    re.compile(r"\b(?:sk|rk|pk)_live_[A-Za-z0-9]{20,}\b"),              # Stripe
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
]
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)", re.I)
_ASSIGNMENT = re.compile(
    r"""(\b[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)s?[\w.-]*"""
    r"""["']?\s*[:=]\s*["']?)((?=[^\s"',;()]*\d)[^\s"',;()]{6,})""", re.I)
"""`password = "hunter22"`: the value masked when it looks like a secret (six or more
characters with a digit), so `token = next_token(s)` in a traceback stays readable."""


def mask_secrets(text: str) -> str:
    """`text` with key-shaped substrings replaced by `[masked]`."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return _ASSIGNMENT.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == MASK else MASK), text)
