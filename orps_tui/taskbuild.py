"""From the user's project to a `Task`: locate the target, its problem text and its tests.

Shared by `orps solve`, `orps check`, `orps watch` and the TUI, so they all see the
same problem and the same tests.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from orps_tui.errors import UserError
from runners.target import Target, malformed
from runners.testing.verdict import ENV_UNUSABLE, PYTEST_DID_NOT_START
from search.types import Goal, Task


class NoTests(UserError):
    """No test selected for the target (the TUI names its tests field, the CLI `--tests`)."""


class NoProblem(UserError):
    """No problem statement: no docstring and none given."""


def build_task(
    project: Path,
    target: str,
    *,
    tests: list[str] | None = None,
    k: str | None = None,
    problem_file: str | None = None,
    problem_text: str | None = None,
    problem_mode: str = "append",
    goal: Goal = "fix",
    new: bool = False,
    problem_required: bool = True,
    selections: list | None = None,
) -> tuple[Task, str]:
    """Return the task and the target file's text as it is now (the base of any patch).

    A target that does not exist yet (a new function, or a new file) is fine: the file's
    text is then what there is ('' for a new file) and the patch adds the function.
    `new` lets a name close to an existing one through (otherwise: "did you mean").
    `problem_required=False` (orps check) accepts a target with no problem statement.
    `selections`, when given, receives the test `Selection` (its reasons, its left-out files)."""
    from orps_tui.config import path_in_project, target_in_project
    from runners.code.locate import LocateError, SourceSyntaxError, locate, new_target
    from runners.code.problem import build_problem
    from runners.testing.testselect import NoTestsFound, select_tests

    project = Path(project).resolve()
    if not project.is_dir():
        raise UserError(f"project directory {project} does not exist")
    target = target_in_project(project, target)
    if tests:  # node ids and paths may be relative to where the user stands, like the target
        tests = [target_in_project(project, t) if "::" in t else path_in_project(project, t) for t in tests]
    if not Target.looks_like(target):
        raise UserError(malformed(target))
    try:
        located = locate(project, target)
    except SourceSyntaxError as err:  # the file is there and so may be the function: never "a new function"
        raise UserError(
            str(err),
            hint=f"fix the code at {err.where} and run this again (until Python can parse the file, no test can import it)",
        ) from None
    except LocateError as missing:
        if not (new or problem_file or problem_text):
            # Most likely a typo: name what is there. A new function needs a description anyway.
            raise UserError(
                str(missing),
                hint=f"to write {Target.qualname_of(target)} as a new function, "
                "describe it with --problem-text TEXT (or --problem FILE)",
            ) from None
        try:
            located = new_target(project, target, new=new)
        except LocateError as err:
            raise UserError(str(err)) from None
    path = project / located.path
    file_text = path.read_text() if path.is_file() else ""
    extra = None
    if problem_file:
        path = Path(problem_file)
        if not path.is_file():
            raise UserError(f"problem file {problem_file} does not exist")
        extra = path.read_text()
    elif problem_text:
        extra = problem_text
    problem = build_problem(located, extra, mode=problem_mode)
    if not problem.strip() and problem_required:
        if not located.source:
            raise NoProblem(
                f"{target} does not exist yet and no problem was given",
                hint="say what it should do with --problem FILE or --problem-text TEXT",
            )
        raise NoProblem(
            f"{target} has no docstring and no problem was given",
            hint="add a docstring or pass --problem FILE / --problem-text TEXT",
        )
    try:
        selection = select_tests(project, located, tests=tests, k=k)
    except NoTestsFound as err:
        raise NoTests(str(err), hint=err.hint or "pass --tests with pytest node ids or -k EXPR") from None
    if selections is not None:
        selections.append(selection)
    where = str(Target(located.path, located.qualname))
    task = Task(
        id=where,
        problem=problem,
        entry_point=located.qualname,
        kind="project",
        signature=located.signature,
        original_code=located.source,
        target=where,
        project=str(project),
        tests=list(selection.node_ids),
        tests_source=selection.source,
        goal=goal,
    )
    return task, file_text


_COLLECTION_ERROR = re.compile(r"^collection error in (\S+): (.*)$", re.M)


def collection_errors(message: str) -> dict[str, str]:
    """Test files (or directories) pytest could not import, from an Evaluation's message:
    path -> the error (`ModuleNotFoundError: No module named 'x'`)."""
    return {where: error.strip() for where, error in _COLLECTION_ERROR.findall(message or "")}


def _in(node_id: str, where: str) -> bool:
    path = node_id.split("::")[0]
    return where in ("", ".", "the test files") or path == where or path.startswith(where.rstrip("/") + "/")


def without_broken_files(task: Task, broken: dict[str, str]) -> Task:
    """The task without the tests of files that cannot be imported (their source too)."""
    keep = [t for t in task.tests if not any(_in(t, where) for where in broken)]
    sections = re.split(r"(?m)^(?=# \S+\n)", task.tests_source)
    source = "".join(
        s for s in sections if not (s.startswith("# ") and any(_in(s[2:].split("\n", 1)[0], where) for where in broken))
    ).strip()
    return replace(task, tests=keep, tests_source=source)


def broken_hint(broken: dict[str, str]) -> str:
    """What to do about test files that cannot be imported: install what the interpreter
    lacks (the error says which one), or fix the test file."""
    from runners.testing.verdict import NOT_INSTALLED

    if any(NOT_INSTALLED in error for error in broken.values()):
        return (
            "install the missing module in that interpreter (or create the project's own environment: "
            "python -m venv .venv, then install the project's dependencies and pytest there), "
            "or choose other tests with --tests / -k"
        )
    return "fix the test file, or choose other tests with --tests / -k"


def broken_files_text(broken: dict[str, str]) -> str:
    return "; ".join(f"{where} ({error})" for where, error in broken.items())


def run_problem(evaluation) -> str:
    """What stops the selected tests from running, in the words `orps check` and `orps solve`
    use (a line, then the hint), or "": the project's environment cannot run pytest, pytest
    stopped at its configuration, or test files cannot be imported (a module the interpreter
    lacks, or the test file itself). The TUI shows the same text."""
    message = evaluation.message or ""
    if evaluation.verdict == "error" and message.startswith(ENV_UNUSABLE):
        first, _, hint = message.partition("\n")
        return f"{first[len(ENV_UNUSABLE) :].strip()}\n{hint.strip()}"
    if message.startswith(PYTEST_DID_NOT_START):
        return f"the selected tests cannot run: {message.splitlines()[0]}"
    broken = collection_errors(message)
    if broken:
        return f"cannot be imported: {broken_files_text(broken)}\n{broken_hint(broken)}"
    return missing_dependency(evaluation)


def missing_dependency(evaluation) -> str:
    """When the code under test does not import because the interpreter lacks a module it
    imports (a dependency not installed there): that line, then the hint; else ""."""
    from runners.testing.verdict import CANDIDATE_IMPORT_ERROR, NOT_INSTALLED

    first = (evaluation.message or "").split("\n", 1)[0]
    if first.startswith(CANDIDATE_IMPORT_ERROR) and NOT_INSTALLED in first:
        return (
            f"{first}\ninstall it in that interpreter (or create the project's own environment: python -m venv "
            ".venv, then install the project's dependencies and pytest there)"
        )
    return ""


async def runnable_tests(task: Task, evaluator) -> tuple[Task, dict[str, str], Any]:
    """Run the selected tests once on the current code; leave out the test files that
    cannot be imported, and refuse (UserError, exit 2) when no selected test can run.
    Returns (task without the broken files, the broken files, the evaluation of the run)."""
    evaluation = await evaluator.evaluate(task, task.original_code)
    if evaluation.verdict == "error" and evaluation.message.startswith(ENV_UNUSABLE):
        first, _, hint = evaluation.message.partition("\n")
        raise UserError(first[len(ENV_UNUSABLE) :].strip(), hint=hint.strip())
    missing = missing_dependency(evaluation)
    if missing:  # the project's own code needs a module this interpreter lacks: no search can help
        first, _, hint = missing.partition("\n")
        raise UserError(first, hint=hint)
    if evaluation.message.startswith(PYTEST_DID_NOT_START):
        raise UserError(
            f"the selected tests cannot run: {evaluation.message}",
            hint="plain pytest stops the same way in this environment: install what the project's "
            "pytest configuration needs (its plugins, the modules its filterwarnings name)",
        )
    broken = collection_errors(evaluation.message)
    if not broken:
        return task, {}, evaluation
    runnable = without_broken_files(task, broken)
    if not runnable.tests:
        raise UserError(f"the selected tests cannot run: {broken_files_text(broken)}", hint=broken_hint(broken))
    return runnable, broken, evaluation


def watched_files(project: Path, task: Task) -> list[Path]:
    """The files whose change makes a check or a proposal of `task` stale: the target's file
    and every file holding one of its tests (those that exist)."""
    names = {task.target.split("::")[0]} | {t.split("::")[0] for t in task.tests}
    return [project / n for n in sorted(names) if (project / n).is_file()]
