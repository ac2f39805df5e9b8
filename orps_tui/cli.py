"""The `orps` command line: one subcommand per module in `orps_tui.commands`.

Each command module exposes `add_parser(subparsers)` (which sets `func=run` on its
parser) and `run(args) -> int`. Errors the user can fix are raised as `UserError`
and printed here as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from orps_tui import __version__
from orps_tui.errors import UserError
from runners.target import Target

COMMANDS = ["solve", "check", "trace", "review", "apply", "runs", "bench", "watch", "demo", "doctor"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `orps` parser; with `only` (a command name) just that command's subparser:
    importing every command module to parse one command's arguments costs a one-shot
    `orps check` about a tenth of a second."""
    parser = argparse.ArgumentParser(
        prog="orps",
        description="Search for a solution to a function in your project with ORPS "
        "(model reasoning + execution feedback + a critic), then review and apply it as a patch. "
        "Run without a command to open the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"orps {__version__}")
    tui = parser.add_argument_group("the TUI (no command)")
    tui.add_argument(
        "--target",
        dest="tui_target",
        metavar="FILE::FUNC",
        help="open the start screen on this function (also: orps FILE::FUNC)",
    )
    tui.add_argument("--run", dest="tui_run", metavar="RUN-ID", help="open this run's review (id, prefix or 'latest')")
    tui.add_argument(
        "--project", dest="tui_project", default=".", metavar="DIR", help="project root (default: current directory)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only in COMMANDS else COMMANDS:
        importlib.import_module(f"orps_tui.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    code = run_command(argv)
    if argv is None:  # the real `orps` command, not a test calling run_command in-process
        exit_now(code)
    return code


EXIT_CLEANUP_S = 0.5
"""How long the exit waits for the atexit handlers (our temp-dir removal, log flushing)."""


def exit_now(code: int) -> None:
    """End the process once the command is done (its results saved and printed), without
    the interpreter's own shutdown.

    That shutdown joins every worker thread (after Ctrl+C one can still be in litellm's
    first-call setup or a generation finishing its token) and then frees every object one
    by one: with litellm loaded (millions of objects in its model tables) it took 7-12 s on
    the loaded test machine, so Ctrl+C or `q` looked like a hang. The atexit handlers still
    run, for at most EXIT_CLEANUP_S on a daemon thread: what they have not removed by then
    is only our own temp directories, never the user's files.
    """
    import atexit
    import threading

    code = _flush_or(code)
    handlers = threading.Thread(target=atexit._run_exitfuncs, name="orps-atexit", daemon=True)
    handlers.start()
    handlers.join(EXIT_CLEANUP_S)
    try:
        code = _flush_or(code)
    finally:
        os._exit(code)


EXIT_BROKEN_PIPE = 141
"""The reader of our output went away (`orps runs | head -1`): 128 + SIGPIPE, the status a
shell reports for any program that a closed pipe ends (`yes | head`), without a message."""


def _flush_or(code: int) -> int:
    """Flush stdout and stderr; `code`, or EXIT_BROKEN_PIPE when a reader has gone away
    (the output still buffered cannot reach anyone: it is dropped quietly)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            _silence(stream)
            code = EXIT_BROKEN_PIPE if code == 0 else code
        except (OSError, ValueError):
            pass
    return code


def _silence(stream) -> None:
    """Point `stream`'s descriptor at /dev/null, so that the flushes still to come (ours, the
    interpreter's at exit) do not raise or print `Exception ignored ... BrokenPipeError`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_command(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    if argv and Target.looks_like(argv[0]) and not argv[0].startswith("-"):
        argv = ["--target", *argv]  # `orps FILE::FUNC` is `orps --target FILE::FUNC`
    args = parser.parse_args(argv)
    if args.command is not None and (args.tui_target or args.tui_run):
        parser.error("--target/--run before a command only open the TUI; put them after the command")
    if given := getattr(args, "target_arg", None):
        if args.target and args.target != given:
            parser.error(f"two targets: {given} and --target {args.target}; give one")
        args.target = given
    if args.command is None:
        from orps_tui.commands.tui import run as run_tui

        func = run_tui
    else:
        func = args.func
    try:
        return int(func(args) or 0)
    except BrokenPipeError:  # before OSError: a reader that went away is no error of ours
        return _broken_pipe()
    except UserError as err:
        return _fail(args, err.message, err.hint, err.code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", "", 130)
    except OSError as err:
        if err.errno not in _ENVIRONMENT_ERRORS:
            return _crash(args, err)
        where = f" {err.filename}" if err.filename else ""
        return _fail(args, f"cannot write{where}: {err.strerror}", "check the permissions and free space there", 2)
    except Exception as err:  # noqa: BLE001 - a bug: say so in one line, keep the traceback in a file
        return _crash(args, err)


_ENVIRONMENT_ERRORS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
"""OS errors that are the user's environment (a read-only checkout, a full disk), not a bug."""


def _broken_pipe() -> int:
    """Our reader closed the pipe: end quietly with 128 + SIGPIPE, as `yes | head` does."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            _silence(stream)
    return EXIT_BROKEN_PIPE


def _crash(args, err: BaseException) -> int:
    log = _write_crash_log()
    return _fail(
        args, f"internal error: {type(err).__name__}: {err}", f"this is a bug in orps; the traceback is in {log}", 70
    )


def _fail(args, message: str, hint: str, code: int) -> int:
    """`orps: message` (and `hint: ...`) on stderr; with --json also a JSON document on
    stdout, `{"error": ..., "hint": ..., "exit_code": ...}`, so scripts parse one format."""
    try:
        print(f"orps: {message}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        if getattr(args, "json", False):
            import json

            print(json.dumps({"error": message, "hint": hint, "exit_code": code}), flush=True)
    except BrokenPipeError:  # nobody reads the message any more; the code still tells
        _broken_pipe()
    return code


def _write_crash_log() -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="orps-crash-", suffix=".log")
    with open(fd, "w") as f:
        traceback.print_exc(file=f)
    return path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
