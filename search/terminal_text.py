"""Text that came from a candidate or a test run, made safe to print on a terminal.

Test output, failure messages, test names and candidate code are written by code orps does
not trust. On a terminal, escape sequences in them are instructions: move the cursor up and
overwrite a FAIL line with PASS, clear the screen, set the window title, emit a hyperlink,
or (on some terminals) answer back into the input. `printable` removes every escape sequence
and every control character except newline and tab before such text is printed.
"""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]             # CSI: cursor moves, erase, colours (ESC [ ... final)
    | \x9b[0-?]*[ -/]*[@-~]               # the same introduced by the 8-bit CSI
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])  # OSC, DCS, SOS, PM, APC: a string up to its terminator
      .*?(?:\x07|\x1b\\|\x9c|$)
    | \x1b[ -/]*[0-~]                     # any other escape (charset, keypad mode, reset)
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all C0 and C1 controls but \t and \n


def printable(text: str) -> str:
    """`text` without terminal escape sequences and control characters (\\n and \\t kept;
    a carriage return, which could overwrite what the line showed, is dropped)."""
    if not text:
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))
