"""`orps review CHANGE [CHANGE ...]`: review changes orps did not write (a pull request, a
colleague's diff, another assistant's output).

    orps review main..feature            # what feature changes against main
    orps review HEAD~1                   # what that commit changed
    orps review feature                  # what the branch adds to the current one (HEAD...feature)
    orps review fix.diff                 # a unified diff, against the project on disk
    orps review a.diff b.diff c.diff     # several attempts at one change, ranked
    orps review main..feature --markdown # a pull-request comment; --json for the document

Finds every function the change touches, selects each one's tests, runs them in the sandbox
on the base and on the changed copy and says per function: tests fixed, broken and
unchanged, and the runtime change. The user's tree and git state are only read
(`runners.review.sides`). Exit 0 when nothing is broken (with several changes: the best
one), 1 when a test that passed on the base fails on the changed copy (or a new test
fails), 2 for bad input (an unknown revision, a diff that does not apply).

`orps review FILE.diff --target FILE::FUNC` on a terminal keeps the older patch review of
one function (its tests, the diff, `a` to apply it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from orps_tui.errors import UserError


def add_parser(sub):
    from orps_tui.commands.options import add_search_options, add_target_options

    p = sub.add_parser(
        "review",
        help="review a change (diff file, git range, branch or commit): per touched "
        "function, tests fixed/broken and runtime, base against changed copy",
        description="Review changes: find the functions they touch, run each one's tests in the "
        "sandbox on the base and on the changed copy, and say what the change fixed, broke and "
        "slowed. Several changes are ranked. Exit 0 nothing broken, 1 something broken, 2 bad input.",
    )
    p.add_argument(
        "changes",
        nargs="+",
        metavar="CHANGE",
        help="a diff file, a git range (A..B, A...B), a branch (HEAD...BRANCH) or a commit (its own change)",
    )
    add_target_options(p, required=False)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--format", choices=["text", "markdown", "json"], help="how to print the review (default: text)")
    fmt.add_argument("--json", action="store_true", help="the same as --format json")
    fmt.add_argument("--markdown", action="store_true", help="the same as --format markdown (a pull-request comment)")
    p.add_argument("--out", metavar="FILE", help="also write the report (in the chosen format) to FILE")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="runs of the tests on each side; runtimes are the fastest (default 3)",
    )
    p.add_argument(
        "--tui",
        action="store_true",
        help="show the review in the TUI (the default on a terminal when no format is given)",
    )
    p.add_argument("--no-tui", action="store_true", help="print the review, even on a terminal")
    follow = p.add_argument_group("a search from the change (--solve)")
    follow.add_argument(
        "--solve",
        metavar="FUNC",
        help="then search from the changed copy for a better version of this touched function "
        "(path::qualname or its name; several of one file, comma-separated, are one task whose "
        "candidates hold them all): the proposal is a follow-up patch on top of the change; "
        "goal: fix when the change broke it, faster when it only slowed it (--goal overrides)",
    )
    follow.add_argument("--patch-out", metavar="FILE", help="write the follow-up patch to FILE")
    follow.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    add_search_options(p)
    p.set_defaults(func=run)


def make_review_app(args):
    """The older one-function patch review (`--target` with one diff file): the app for
    `args`, or UserError."""
    from orps_tui.commands.check import patched_files, resolve, with_changed_tests
    from orps_tui.screens.patch_review import PatchReviewApp, PatchReviewScreen
    from runners.testing.evaluator import SandboxEvaluator

    args.patch = getattr(args, "patch", None) or args.changes[0]
    project, config, task = resolve(args)
    text, files = patched_files(project, args.patch)
    tests_changed = with_changed_tests(task, files)

    async def evaluate(task, files):
        async with SandboxEvaluator(
            timeout_s=config.settings.timeout_s,
            memory_mb=config.settings.memory_mb,
            read_paths=config.extras.get("sandbox_read", []),
        ) as evaluator:
            return await evaluator.evaluate(task, task.original_code, files=files)

    return PatchReviewApp(PatchReviewScreen(project, task, args.patch, text, files, tests_changed, evaluate))


def output_format(args) -> str:
    if args.json:
        return "json"
    if args.markdown:
        return "markdown"
    return args.format or "text"


def run(args) -> int:
    if args.target:
        if len(args.changes) != 1 or not Path(args.changes[0]).is_file():
            raise UserError(
                "--target reviews one diff file in the TUI",
                hint="without --target, orps review finds the functions a change touches itself",
            )
        app = make_review_app(args)  # bad input is refused before any screen opens
        if not sys.stdout.isatty() or not sys.stdin.isatty():
            raise UserError(
                "the review needs a terminal",
                hint=f"for a report without one: orps review {args.patch} (without --target)",
            )
        from orps_tui.app import run_app

        return run_app(app)
    if args.repeat < 1:
        raise UserError("--repeat must be at least 1")
    fmt = output_format(args)
    tui = args.tui or (
        not args.no_tui
        and args.format is None
        and not args.json
        and not args.markdown
        and not args.out
        and sys.stdout.isatty()
        and sys.stdin.isatty()
    )
    if args.tui and (not sys.stdout.isatty() or not sys.stdin.isatty()):
        raise UserError("--tui needs a terminal", hint="without it, orps review prints the review")
    if args.solve and len(args.changes) != 1:
        raise UserError(
            "--solve searches from one change", hint="review the candidates first, then --solve from the best"
        )
    say = (lambda line: None) if args.quiet else None
    project, config, review = compute(args, say)
    try:
        follow_up = None
        if args.solve:
            from orps_tui.review.follow_up import search_from_review

            follow_up = search_from_review(
                args, project, review.review.changes[0], review.changes[0].changed.root, review.python
            )
        if tui:
            from orps_tui.review.screen import run_review_app

            return run_review_app(project, review.review, follow_up)
        return print_review(args, fmt, project, review.review, follow_up)
    finally:
        review.close()


class Computed:
    """A review and the sides it was made of (their temporary directories, until `close`)."""

    def __init__(self, review, sides, changes, python: str):
        self.review, self.sides, self.changes, self.python = review, sides, changes, python

    def close(self) -> None:
        self.sides.close()


def compute(args, say=None):
    """(project, config, Computed) for `args`: the changes read, their tests run."""
    from orps_tui.config import load_config, project_dir
    from runners.review.compare import ReviewError, review_changes
    from runners.review.sides import ChangeError, Sides
    from runners.testing.evaluator import SandboxEvaluator

    project = project_dir(args.project)
    config = load_config(project, cli={"timeout_s": args.timeout_s, "memory_mb": args.memory_mb})
    say = say or (lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    sides = Sides(project)
    _remove_on_hangup(sides)
    try:
        try:
            changes = [sides.change(spec) for spec in args.changes]
        except ChangeError as err:
            raise UserError(str(err)) from None
        if len({c.base.root for c in changes}) > 1:
            raise UserError(
                "several changes are ranked only when they share their base",
                hint="give diff files of the same project, or ranges from the same base (main..a main..b)",
            )
        read = [str((project / p).resolve()) for p in config.extras.get("sandbox_read", [])]
        read += [str(Path(p).resolve()) for p in args.sandbox_read or []]
        tests = None
        if args.tests:
            tests = [t for t in args.tests]

        # The project's own interpreter for every side: a side exported from git has no .venv.
        from runners.project.env import resolve as resolve_env

        python = resolve_env(project).chosen.path

        async def go():
            async with SandboxEvaluator(
                timeout_s=config.settings.timeout_s, memory_mb=config.settings.memory_mb, read_paths=read, python=python
            ) as evaluator:
                return await review_changes(changes, evaluator, repeat=args.repeat, say=say, tests=tests)

        try:
            review = asyncio.run(go())
        except ReviewError as err:
            raise UserError(str(err), hint=err.hint) from None
    except BaseException:
        sides.close()
        raise
    return project, config, Computed(review, sides, changes, python)


def _remove_on_hangup(sides) -> None:
    """A closed terminal (SIGHUP) or a kill (SIGTERM) ends the process without its cleanup:
    remove the temporary sides first (each a copy of the project), then die of the signal."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        sides.close()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for signum in (signal.SIGHUP, signal.SIGTERM):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, handler)


def render(fmt: str, project: Path, review, follow_up: dict | None = None) -> str:
    from orps_tui.review.report import json_document, markdown_report, text_report

    if fmt == "json":
        return json.dumps(json_document(review, str(project), follow_up), indent=1) + "\n"
    if fmt == "markdown":
        return markdown_report(review, follow_up)
    return text_report(review, follow_up)


def print_review(args, fmt: str, project: Path, review, follow_up: dict | None = None) -> int:
    from orps_tui.review.report import exit_code

    text = render(fmt, project, review, follow_up)
    if args.out:
        Path(args.out).write_text(text)
    sys.stdout.write(text)
    return exit_code(review)
