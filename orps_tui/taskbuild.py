"""From the user's project to a `Task`: locate the target, its problem text and its tests.

Shared by `orps solve`, `orps check`, `orps watch` and the TUI, so they all see the
same problem and the same tests.
"""

from __future__ import annotations

from pathlib import Path

from orps_tui.errors import UserError
from search.types import Task


def build_task(
    project: Path,
    target: str,
    *,
    tests: list[str] | None = None,
    k: str | None = None,
    problem_file: str | None = None,
    problem_text: str | None = None,
    problem_mode: str = "append",
    goal: str = "fix",
) -> tuple[Task, str]:
    """Return the task and the target file's text as it is now (the base of any patch)."""
    from runners.locate import LocateError, locate
    from runners.problem import build_problem
    from runners.testselect import NoTestsFound, select_tests

    project = Path(project).resolve()
    if not project.is_dir():
        raise UserError(f"project directory {project} does not exist")
    if "::" not in target:
        raise UserError(f"target {target!r} must look like path/to/file.py::function or path::Class.method")
    try:
        located = locate(project, target)
    except LocateError as err:
        raise UserError(str(err)) from None
    file_text = (project / located.path).read_text()
    extra = None
    if problem_file:
        path = Path(problem_file)
        if not path.is_file():
            raise UserError(f"problem file {problem_file} does not exist")
        extra = path.read_text()
    elif problem_text:
        extra = problem_text
    problem = build_problem(located, extra, mode=problem_mode)
    if not problem.strip():
        raise UserError(f"{target} has no docstring and no problem was given",
                        hint="add a docstring or pass --problem FILE / --problem-text TEXT")
    try:
        selection = select_tests(project, located, tests=tests, k=k)
    except NoTestsFound as err:
        raise UserError(str(err), hint="pass --tests with pytest node ids or -k EXPR") from None
    task = Task(
        id=f"{located.path}::{located.qualname}",
        problem=problem,
        entry_point=located.qualname,
        kind="project",
        signature=located.signature,
        original_code=located.source,
        target=f"{located.path}::{located.qualname}",
        project=str(project),
        tests=list(selection.node_ids),
        tests_source=selection.source,
        goal=goal,
    )
    return task, file_text
