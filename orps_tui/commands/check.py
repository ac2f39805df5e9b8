"""`orps check`: run the target's tests in the sandbox on the project's current code, on a
candidate, or on a patch.

    orps check --target src/pkg/mod.py::func [--tests ...] [-k EXPR] [--json]
    orps check --target ... --candidate fix.py      # source defining the target
    orps check --target ... --patch change.diff     # a unified diff, any files, tests too
    orps check --target ... --candidate fast.py --same-as-original
    orps check --target ... [--candidate/--patch] --confirm   # and a confirmation run

Locates the target, selects its tests (or takes `--tests`), and runs them exactly as the
search would run a candidate: in a throwaway copy of the project, in the sandbox, with
the current function (or the candidate, or the patched files) in place. A patch is
applied to that copy only; test files it changes are run too, and said. Nothing in the
project is written. Exit 0 when every test passes, 1 when some fail (or time out, crash,
are suspicious...), 2 for bad input (including a diff that does not apply).

`--same-as-original` also records every call the tests make to the target with the
project's current code and replays them on the candidate or patch (`runners.speed.equivalence`):
exit 1 when it answers any call differently, and the call is named with both answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from orps_tui.errors import UserError
from orps_tui.schema import SCHEMA_VERSION
from search.terminal_text import printable

if TYPE_CHECKING:
    from runners.testing.early_worker import EarlyWorker


def add_parser(sub):
    from orps_tui.commands.options import add_target_options

    p = sub.add_parser(
        "check",
        help="run a target's tests in the sandbox on the current code",
        description="Run the tests that exercise a function, in the sandbox, on the project's "
        "current code. Exit 0 all pass, 1 some fail, 2 bad input.",
    )
    add_target_options(p, required=False, positional=True)
    given = p.add_mutually_exclusive_group()
    given.add_argument("--candidate", metavar="FILE", help="check this Python source (defining the target) instead")
    given.add_argument(
        "--patch",
        metavar="FILE.diff",
        help="check the project with this unified diff applied (in the sandbox copy only)",
    )
    p.add_argument(
        "--same-as-original",
        action="store_true",
        help="with --candidate or --patch: also replay every call the tests make to the target on it "
        "and compare with the current code's answers (exit 1 when one differs)",
    )
    p.add_argument("--timeout", dest="timeout_s", type=float, help="seconds for the whole test run (default: settings)")
    p.add_argument("--memory", dest="memory_mb", type=int, help="memory limit in MB (default: settings)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="also run the tests with the code under test in a separate process that cannot see them "
        "(docs/confirmation.md); exit 0 only when confirmed",
    )
    p.add_argument(
        "--map",
        action="store_true",
        help="first run the whole test suite once to find every test that reaches the target (and every "
        "other function: the map is kept in orps's cache and used by later checks and searches)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="also say why each test was selected")
    p.set_defaults(func=run)


def resolve(args, selections: list | None = None):
    """(project, config, task) for `check` and `watch`: flags over orps.toml over pyproject.toml.
    `selections` receives the test selection (why each test was chosen)."""
    from orps_tui.config import load_config, project_dir
    from runners.sandbox.bwrap import probe_in_background

    project = project_dir(args.project)
    # What the sandbox can use here, found on a thread while the target and its tests are
    # looked up (its processes run on another core; the first run waits for it if need be).
    probe_in_background(project)
    from orps_tui.taskbuild import build_task

    cli = {
        "timeout_s": getattr(args, "timeout_s", None),
        "memory_mb": getattr(args, "memory_mb", None),
        "target": args.target,
        "tests": args.tests,
        "k": args.k,
    }
    config = load_config(project, cli=cli)
    target = config.extras.get("target")
    if not target:
        raise UserError(
            "no target: give --target path/to/file.py::function",
            hint='or set target = "..." in [tool.orps] or orps.toml',
        )
    task, _ = build_task(
        project,
        target,
        tests=config.extras.get("tests"),
        k=config.extras.get("k"),
        problem_file=args.problem_file,
        problem_text=args.problem_text,
        problem_mode=args.problem_mode,
        new=getattr(args, "new", False),
        problem_required=False,
        selections=selections,
    )
    # Config paths are relative to the project, flag paths to the current directory.
    config.extras["sandbox_read"] = [
        *(str((project / p).resolve()) for p in config.extras.get("sandbox_read", [])),
        *(str(Path(p).resolve()) for p in getattr(args, "sandbox_read", None) or []),
    ]
    return project, config, task


def evaluate_current(
    task, config, code: str | None = None, files: dict[str, str] | None = None, early: EarlyWorker | None = None
):
    """Run the task's tests with the current function (or `code`, or the project with
    `files` replaced) as the candidate, sandboxed; in `early`'s warm worker when it could
    start (`runners.testing.early_worker`), cold otherwise."""
    import asyncio

    from runners.testing.evaluator import SandboxEvaluator

    async def go():
        # The interpreter is the project's own (runners.project.env, `python =` included).
        # Without `early`, cold: one run does not repay a warm worker started now (its start,
        # pytest imported outside the sandbox, and its first run would come first).
        async with SandboxEvaluator(
            timeout_s=config.settings.timeout_s,
            memory_mb=config.settings.memory_mb,
            read_paths=config.extras.get("sandbox_read", []),
            warm=False,
        ) as evaluator:
            candidate = task.original_code if code is None else code
            if early is not None:
                evaluator.adopt(early)
            ev = await evaluator.evaluate(task, candidate, files=files)
            if early is not None and await early.ran_warm_in_vain(ev):
                # The warm path does not work here: what ran through it is no evidence.
                evaluator.forget(early)
                ev = await evaluator.evaluate(task, candidate, files=files)
            return ev

    return asyncio.run(go())


def make_reach_map(args):
    """Run the project's whole suite once in the sandbox and keep which tests reach which
    function (`runners.testing.reachmap`); progress and the outcome on stderr. None (said)
    when the suite cannot run: the tests are then selected without the map."""
    import argparse
    import asyncio
    import sys

    from orps_tui.config import project_dir
    from runners.testing.evaluator import SandboxEvaluator
    from runners.testing.reachmap import MapError, build, map_file
    from runners.testing.testselect import test_files

    project = project_dir(args.project)
    paths = [p.relative_to(project).as_posix() for p in test_files(project)]
    if not paths:
        return None  # the selection says there are no tests, and what to do
    # The target's task with every test file given: nothing is selected before the map exists.
    _, config, task = resolve(argparse.Namespace(**{**vars(args), "tests": paths, "k": None}))
    print(f"orps: mapping which tests reach which functions: running {len(paths)} test files once...", file=sys.stderr)

    async def go():
        async with SandboxEvaluator(
            memory_mb=config.settings.memory_mb, read_paths=config.extras.get("sandbox_read", []), warm=False
        ) as evaluator:
            return await build(evaluator, task, paths)

    try:
        reach = asyncio.run(go())
    except (MapError, RuntimeError, ValueError) as err:
        print(f"orps: no reach map: {err} (the tests are selected without it)", file=sys.stderr)
        return None
    functions = sum(len(names) for names in reach.functions.values())
    print(
        f"orps: mapped {reach.tests} tests and the {functions} functions they run in {reach.seconds:.1f} s "
        f"(kept in {map_file(project)})",
        file=sys.stderr,
    )
    return reach


def same_as_original(task, config, code: str | None, files: dict[str, str] | None) -> dict:
    """The candidate's (or patch's) answers to the calls the tests make, against the current
    code's (`runners.speed.equivalence.Report.to_dict`, with its one-line `summary`)."""
    import asyncio

    from runners.speed.equivalence import checker
    from runners.testing.evaluator import SandboxEvaluator

    async def go():
        async with SandboxEvaluator(
            timeout_s=config.settings.timeout_s,
            memory_mb=config.settings.memory_mb,
            read_paths=config.extras.get("sandbox_read", []),
        ) as evaluator:
            report = await checker(evaluator).check(task, task.original_code if code is None else code, files)
            return {**report.to_dict(), "summary": report.summary()}

    return asyncio.run(go())


def refuse_unusable_environment(ev) -> None:
    """UserError (exit 2) when the project's interpreter cannot run the tests at all (no
    pytest there, for one): the message says which interpreter, the hint how to fix it."""
    from runners.testing.verdict import ENV_UNUSABLE

    if ev.verdict == "error" and ev.message.startswith(ENV_UNUSABLE):
        first, _, hint = ev.message.partition("\n")
        raise UserError(first[len(ENV_UNUSABLE) :].strip(), hint=hint.strip())


def project_python(project: Path) -> dict:
    """Which interpreter runs the project's tests, why, and its pytest (for -v and --json)."""
    from runners.project.env import report

    return report(project)


def read_text_file(name: str, what: str) -> str:
    path = Path(name)
    if not path.is_file():
        raise UserError(f"{what} {name} does not exist")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what} {name} is not UTF-8 text") from None
    except OSError as err:
        raise UserError(f"cannot read {what} {name}: {err.strerror}") from None


def patched_files(project: Path, name: str) -> tuple[str, dict[str, str]]:
    """(the diff's text, each file it changes -> its new text), checked against the project
    without writing it; UserError (exit 2) for a file that is not a diff or does not apply."""
    from runners.code.patch import PatchError, check_patch

    text = read_text_file(name, "patch")
    try:
        return text, check_patch(project, text)
    except PatchError as err:
        raise UserError(f"{name} does not apply: {err}") from None


def with_changed_tests(task, files: dict[str, str]) -> list[str]:
    """Test files the patch changes: added to the tests to run (the user must see them)."""
    from runners.testing.prepare import is_test_file

    changed = [
        rel for rel in files if is_test_file(rel) and Path(rel).name.endswith(".py") and Path(rel).name != "conftest.py"
    ]
    for rel in changed:
        if not any(t == rel or t.startswith(rel + "::") for t in task.tests):
            task.tests.append(rel)
    return sorted(rel for rel in files if is_test_file(rel))


def first_line(message: str) -> str:
    """The line of a pytest failure worth one line: the first `E ...`, else the last line."""
    lines = [line for line in message.strip().splitlines() if line.strip()] or [""]
    return next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1].strip())


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def report_lines(task, ev, reasons: dict[str, str] | None = None) -> list[str]:
    """Human-readable per-test results and a summary."""
    lines = []
    for t in ev.tests:
        mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "xfailed": "XFAIL"}.get(
            t.outcome, t.outcome.upper()
        )
        line = f"  {mark:<5} {t.id}  ({_seconds(t.duration_s)})"
        if t.outcome not in ("passed", "skipped", "xfailed") and t.message:
            line += f"\n        {first_line(t.message)[:160]}"
        why = reasons and (reasons.get(t.id) or reasons.get(t.id.split("[")[0]))
        if why:
            line += f"\n        selected: {why}"
        lines.append(line)
    runtime = f", {_seconds(ev.runtime_s)} in tests" if ev.runtime_s is not None else ""
    lines.append(
        f"{task.target}: {ev.passed}/{ev.total} passed ({ev.verdict}{runtime}; sandbox: {ev.isolation or '?'})"
    )
    if ev.message and not ev.all_passed:
        lines.append(f"  {ev.message.strip().splitlines()[0][:200]}")
    if ev.verdict == "timeout":  # slow tests, or a hang: only the user knows which
        lines.append(
            "  hint: if the tests are just slow, give them more time: --timeout SECONDS, or timeout = SECONDS in orps.toml"
        )
    return [printable(line) for line in lines]  # test names and messages come from the run


def run(args) -> int:
    from orps_tui.config import project_dir
    from runners.testing.early_worker import EarlyWorker

    # The project's interpreter imports pytest, on the other core, while orps imports the
    # rest of itself and finds the target and its tests.
    early = EarlyWorker(project_dir(args.project))
    try:
        return check(args, early)
    finally:
        early.close()


def check(args, early: EarlyWorker | None = None) -> int:
    from orps_tui.taskbuild import broken_files_text, broken_hint, collection_errors, without_broken_files

    selections: list = []
    reach = make_reach_map(args) if getattr(args, "map", False) and not args.tests else None
    project, config, task = resolve(args, selections)  # the selection uses the map
    code, files, tests_changed = None, None, []
    if getattr(args, "candidate", None):
        code = read_text_file(args.candidate, "candidate")
    elif getattr(args, "patch", None):
        _, files = patched_files(project, args.patch)
        tests_changed = with_changed_tests(task, files)
    if args.same_as_original and code is None and files is None:
        raise UserError(
            "--same-as-original compares a candidate or a patch with the current code",
            hint="add --candidate FILE or --patch FILE.diff",
        )
    ev = evaluate_current(task, config, code, files, early)
    confirmation = None
    refuse_unusable_environment(ev)
    if code is None and files is None:
        from orps_tui.taskbuild import missing_dependency

        missing = missing_dependency(ev)  # the project's code needs a module the interpreter lacks
        if missing:
            first, _, hint = missing.partition("\n")
            raise UserError(first, hint=hint)
    if ev.verdict == "error" and code is not None:  # the candidate could not be put in place
        raise UserError(f"{args.candidate}: {ev.message}")
    broken = collection_errors(ev.message)
    if broken:  # one test file that cannot be imported must not sink the others
        task = without_broken_files(task, broken)
        if not task.tests:
            raise UserError(f"the selected tests cannot run: {broken_files_text(broken)}", hint=broken_hint(broken))
        ev = evaluate_current(task, config, code, files, early)
    same = same_as_original(task, config, code, files) if args.same_as_original else None
    if getattr(args, "confirm", False):  # on the tests that can run (after any left out)
        confirmation = confirm_current(task, config, code, files)
    env = project_python(project)
    # why each test was selected (the selection build_task made): -v prints it, --json gives it per test
    reasons, not_scanned = selections[0].reasons, selections[0].left_out
    if args.json:
        patch = {"patch_files": sorted(files), "patch_changes_tests": tests_changed} if files is not None else {}
        print(
            json.dumps(
                {
                    "schema_version": SCHEMA_VERSION,
                    "target": task.target,
                    "verdict": ev.verdict,
                    "passed": ev.passed,
                    "total": ev.total,
                    "all_passed": ev.all_passed and not broken,
                    "runtime_s": ev.runtime_s,
                    "wall_s": ev.wall_s,
                    "isolation": ev.isolation,
                    "message": ev.message,
                    "tests": [
                        {**t.__dict__, "selected": reasons.get(t.id) or reasons.get(t.id.split("[")[0], "")}
                        for t in ev.tests
                    ],
                    "left_out": broken,
                    "python": env,
                    **patch,
                    **({"reach_map": {k: getattr(reach, k) for k in ("made", "tests", "seconds")}} if reach else {}),
                    **({"same_as_original": same} if same is not None else {}),
                    **({"confirmation": confirmation.to_dict()} if confirmation is not None else {}),
                },
                indent=1,
            )
        )
    else:
        if files is not None:
            print(f"patch {args.patch}: changes {', '.join(sorted(files))}")
            if tests_changed:
                print(f"  note: the patch changes tests ({', '.join(tests_changed)}): read them before trusting a pass")
        for where, error in broken.items():
            print(printable(f"  LEFT OUT {where}: cannot be imported: {error}"))
        if args.verbose:
            print(f"  python: {env['path']} ({env['reason']}; pytest {env['pytest']})")
            for note in env["notes"]:
                print(f"  note: {note}")
            for rel, why in not_scanned.items():
                print(f"  NOT SCANNED {rel}: does not parse ({why})")
        print("\n".join(report_lines(task, ev, reasons if args.verbose else None)))
        if same is not None:
            print(printable(same["summary"]))
        if confirmation is not None:
            print(printable(f"confirmation: {confirmation.line} ({confirmation.wall_s:.2f} s)"))
    if confirmation is not None and confirmation.status != "confirmed":
        return 1
    differs = same is not None and same["same"] is False
    return 0 if ev.all_passed and not broken and not differs else 1


def confirm_current(task, config, code: str | None = None, files: dict[str, str] | None = None):
    """The confirmation run alone (`runners.testing.confirm`) for the current function, `code` or `files`."""
    import asyncio

    from runners.testing.evaluator import SandboxEvaluator

    async def go():
        async with SandboxEvaluator(
            timeout_s=config.settings.timeout_s,
            memory_mb=config.settings.memory_mb,
            read_paths=config.extras.get("sandbox_read", []),
            warm=False,
        ) as evaluator:
            return await evaluator.confirm(task, task.original_code if code is None else code, files=files)

    return asyncio.run(go())
