"""The flags several commands share: a target and its tests (check, solve, watch, review),
the settings of one search (solve, watch, demo, review --solve), and how they become a
`SolveRequest`. Declared once, so the commands cannot drift apart."""

from __future__ import annotations

import argparse

from search.settings import STRATEGIES


def add_search_options(p, title: str = "search") -> None:
    """Options shared by solve, watch and demo (the settings of one search)."""
    g = p.add_argument_group(title)
    g.add_argument("--strategy", choices=STRATEGIES, help="search strategy (default orps)")
    g.add_argument("--model", help="programmer model, a litellm name (default local/smollm2)")
    g.add_argument("--critic-model", help="critic model (default: the programmer model)")
    g.add_argument("--api-base", help="base URL of the model server (ollama, vLLM, ...)")
    g.add_argument("--samples", type=int, help="round-0 candidates (paper: 20)")
    g.add_argument("--beam", type=int, help="nodes kept per round (paper: 3)")
    g.add_argument("--rounds", type=int, help="refinement rounds (paper: 5)")
    g.add_argument("--budget-calls", type=int, help="stop after this many model calls")
    g.add_argument("--budget-tokens", type=int, help="stop after this many tokens")
    g.add_argument("--budget-usd", type=float, help="stop after this cost in dollars")
    g.add_argument("--temperature", type=float, help="programmer sampling temperature")
    g.add_argument("--max-tokens", type=int, help="completion limit per call")
    g.add_argument("--seed", type=int, help="base seed (same seed + cache = same search)")
    g.add_argument("--timeout", dest="timeout_s", type=float, help="seconds per test run (default 10)")
    g.add_argument("--memory", dest="memory_mb", type=int, help="MB of memory per test run (default 2048)")
    g.add_argument(
        "--goal",
        choices=["fix", "faster"],
        help="fix (default): pass the tests; faster: keep them passing, cut runtime",
    )
    g.add_argument(
        "--min-speedup",
        type=float,
        metavar="GAIN",
        help="--goal faster: the least gain to propose, timed against the original beyond the noise "
        "(default 0.10: 10%%)",
    )
    g.add_argument("--no-cache", dest="cache", action="store_false", default=None, help="do not cache model answers")
    g.add_argument(
        "--no-critic", dest="critic", action="store_false", default=None, help="orps without the critic model"
    )
    g.add_argument(
        "--critic-mode",
        choices=["node", "round"],
        help="node (default): one critic call per node; round: one call scores a whole round",
    )
    g.add_argument(
        "--agreement",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="among candidates tied on the tests, prefer the one the others agree with on "
        "probe inputs derived from the tests' literal calls",
    )


def add_target_options(p, required: bool = True, positional: bool = False) -> None:
    if positional:  # `orps check calc.py::add`, as `orps calc.py::add` opens the TUI on it
        p.add_argument("target_arg", nargs="?", metavar="TARGET", help="the function, as --target")
    p.add_argument("--target", required=required, help="the function: path/to/file.py::name or path::Class.method")
    p.add_argument("--tests", nargs="+", help="pytest node ids or paths (default: tests that use the target)")
    p.add_argument("-k", dest="k", help="select tests by keyword expression, as pytest -k")
    p.add_argument("--problem", dest="problem_file", help="markdown/text file with the problem statement")
    p.add_argument("--problem-text", help="the problem statement as text")
    p.add_argument(
        "--problem-mode",
        choices=["append", "replace"],
        default="append",
        help="add the given problem to the docstring (append, default) or use it instead (replace)",
    )
    p.add_argument(
        "--project",
        help="project root (default: the nearest directory upwards with a pyproject.toml, setup.cfg or setup.py, else the git root, else the current directory)",
    )
    p.add_argument(
        "--new",
        action="store_true",
        help="the target is a new function (or file) even if its name is close to an existing one",
    )
    p.add_argument(
        "--sandbox-read",
        action="append",
        default=[],
        metavar="PATH",
        help="a path outside the project that the tests read, mounted read-only in the sandbox "
        "(repeatable; adds to [tool.orps] sandbox_read)",
    )


def cli_overrides(args) -> dict:
    from search.settings import SearchSettings

    names = set(SearchSettings.__dataclass_fields__)
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def request_from_args(args, **given):
    """The `SolveRequest` of `orps solve` (or `orps demo`) flags; `given` fixes fields the
    command decides itself (the demo's target)."""
    from dataclasses import fields

    from orps_tui.solving import SolveRequest

    taken = {
        f.name: getattr(args, f.name)
        for f in fields(SolveRequest)
        if f.name != "settings" and getattr(args, f.name, None) is not None
    }
    return SolveRequest(**{**taken, "settings": cli_overrides(args), **given})
