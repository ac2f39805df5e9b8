"""Text from the system or the user's code is shown as it is, never read as Textual markup.

An OS error (`[Errno 30] Read-only file system: 'calc.py'`), a Python type in a message
(`list[list]`), a test id with parameters (`test_x[a-b]`) or a model name all hold square
brackets; read as markup they lose words, change style, or fail to render. Strings put on
screen by orps go through `literal` (or are `rich.text.Text` already), and the app's
notifications default to `markup=False`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:  # a mixin of Textual's App: checked as one
    from textual.app import App as _MixinBase
else:
    _MixinBase = object


def literal(text: str | Text) -> Text:
    """`text` as it is: a plain string is never markup; a `Text` keeps its styles."""
    return text if isinstance(text, Text) else Text(text)


class LiteralNotify(_MixinBase):
    """An App mixin: every notification shows its message and title literally. (A screen's
    or widget's `notify` passes `markup=True` on to the app's: the app overrides it, as no
    notification of orps is written in markup.)"""

    def notify(
        self, message, *, title: str = "", severity="information", timeout: float | None = None, markup: bool = False
    ):
        return super().notify(str(message), title=title, severity=severity, timeout=timeout, markup=False)
