"""Several functions of one file searched as one task (`orps review CHANGE --solve f,g`):
a candidate holds all of them, and each is spliced into its own place.

The engine knows one target per task. Here the task's target is the first function, its
`original_code` every function's text (what the model sees and refines), and the evaluator
wraps the sandbox's: it splices each function the candidate defines into the file
(`runners.code.splice.splice_candidate`, one target at a time: the candidate's other definitions
are the module's own functions, which a splice never duplicates) and runs the tests with
that whole file in place. A function the candidate leaves out keeps the file's version.
"""

from __future__ import annotations

from runners.code.locate import Located
from runners.code.patch import make_patch
from runners.code.splice import SpliceError, splice_candidate
from runners.testing.metrics import static_metrics
from search.types import Evaluation, Task


def together_source(functions: list[Located]) -> str:
    """The functions' texts one after the other: the code the search starts from."""
    return "\n\n\n".join(f.source.rstrip() for f in functions) + "\n"


def splice_all(file_text: str, qualnames: list[str], code: str) -> str:
    """`file_text` with every function of `qualnames` that `code` defines put in its place;
    SpliceError when `code` defines none of them (or does not parse)."""
    out, placed, last_error = file_text, 0, None
    for name in qualnames:
        try:
            out = splice_candidate(out, name, code)
            placed += 1
        except SpliceError as err:
            last_error = err
    if not placed:
        raise last_error or SpliceError("the candidate defines none of the functions")
    return out


def together_patch(path: str, file_text: str, qualnames: list[str], code: str) -> str:
    """The patch that puts every function `code` defines in place ('' when nothing changes)."""
    try:
        new = splice_all(file_text, qualnames, code)
    except SpliceError:
        return ""
    return "" if new == file_text else make_patch(path, file_text, new)


class TogetherEvaluator:
    """An Evaluator for a task whose candidate holds several functions of `path`."""

    def __init__(self, inner, path: str, file_text: str, qualnames: list[str], anchor: str):
        self.inner, self.path, self.file_text, self.qualnames = inner, path, file_text, list(qualnames)
        self.anchor = anchor
        """The first function's own text: spliced in place of itself, then the whole file replaces it."""

    def _file(self, code: str) -> str | Evaluation:
        try:
            return splice_all(self.file_text, self.qualnames, code)
        except SpliceError as err:
            return Evaluation(verdict="error", message=str(err), static=static_metrics(code))

    async def evaluate(self, task: Task, code: str, *, hidden: bool = False, repeat: int = 1) -> Evaluation:
        text = self._file(code)
        if isinstance(text, Evaluation):
            text.total = len(task.tests)
            return text
        ev = await self.inner.evaluate(task, self.anchor, hidden=hidden, repeat=repeat, files={self.path: text})
        ev.static = static_metrics(code)
        return ev

    async def measure_runtime(self, task: Task, code: str, repeats: int = 5) -> float | None:
        ev = await self.evaluate(task, code, repeat=repeats)
        return ev.runtime_s if ev.all_passed else None

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close:
            close()
