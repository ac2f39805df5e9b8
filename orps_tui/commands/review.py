"""`orps review FILE.diff`: review a patch orps did not write (a pull request, a colleague's
diff, another assistant's output) in the TUI: its tests run in the sandbox on a copy of
the project with the patch applied; per-test results and the coloured diff; `a` applies
it safely (with a backup), `q` quits. A diff that does not apply is refused (exit 2)."""

from __future__ import annotations

import sys

from orps_tui.errors import UserError


def add_parser(sub):
    from orps_tui.commands.solve import add_target_options

    p = sub.add_parser("review", help="review a patch (unified diff) in the TUI: its tests in the sandbox, the diff",
                       description="Run the tests of a patch's target in the sandbox with the patch applied to a "
                       "copy of the project, then show per-test results and the diff. Nothing is written "
                       "unless you accept.")
    p.add_argument("patch", metavar="FILE.diff", help="the unified diff to review")
    add_target_options(p, required=False)
    p.add_argument("--timeout", dest="timeout_s", type=float, help="seconds for the whole test run (default: settings)")
    p.add_argument("--memory", dest="memory_mb", type=int, help="memory limit in MB (default: settings)")
    p.set_defaults(func=run)


def make_review_app(args):
    """The app for `args` (the patch checked, the target's tests selected), or UserError."""
    from orps_tui.commands.check import patched_files, resolve, with_changed_tests
    from orps_tui.screens.patch_review import PatchReviewApp, PatchReviewScreen
    from runners.evaluator import SandboxEvaluator

    project, config, task = resolve(args)
    text, files = patched_files(project, args.patch)
    tests_changed = with_changed_tests(task, files)

    async def evaluate(task, files):
        async with SandboxEvaluator(timeout_s=config.settings.timeout_s, memory_mb=config.settings.memory_mb,
                                    read_paths=config.extras.get("sandbox_read", [])) as evaluator:
            return await evaluator.evaluate(task, task.original_code, files=files)

    return PatchReviewApp(PatchReviewScreen(project, task, args.patch, text, files, tests_changed, evaluate))


def run(args) -> int:
    app = make_review_app(args)  # bad input is refused before any screen opens
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError("the review needs a terminal", hint=f"for a report without one: orps check --patch {args.patch}")
    from orps_tui.app import run_app

    return run_app(app)
