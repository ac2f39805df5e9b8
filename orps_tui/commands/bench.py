"""`orps bench`: strategies over a dataset at equal call budgets, judged on hidden tests."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from orps_tui.errors import UserError
from orps_tui.schema import SCHEMA_VERSION
from search.settings import STRATEGIES, SearchSettings

if TYPE_CHECKING:
    from runners.bench.run import BenchConfig

# runners.bench, search.gateway: imported when `orps bench` runs, not when any command's
# parser is built (every `orps check` would pay for the search engine's import).


def add_parser(sub):
    p = sub.add_parser(
        "bench",
        help="run strategies over a dataset (dev.csv public tests, test.csv hidden) and report pass@1",
        description="Benchmark search strategies the way the ORPS paper does: public tests guide the "
        "search, hidden tests judge the answer. Results are appended per problem, so --resume continues.",
    )
    p.add_argument(
        "--dataset", required=True, help="directory with dev.csv and test.csv (e.g. ../shared/datasets/mbpp_v2)"
    )
    p.add_argument("--limit", type=int, default=0, help="first N problems only")
    p.add_argument("--ids", nargs="+", default=None, help="only these task ids")
    p.add_argument(
        "--strategy", default="orps", help=f"one or more of {', '.join(STRATEGIES)}, comma separated (default orps)"
    )
    p.add_argument("--model", default="local/smollm2", help="litellm model name (default local/smollm2)")
    p.add_argument("--critic-model", default="", help="critic model (default: the model)")
    p.add_argument(
        "--no-critic",
        dest="critic",
        action="store_false",
        help="orps without the critic (reported as orps-nocritic): every call goes to the programmer",
    )
    p.add_argument(
        "--critic-mode",
        choices=["node", "round"],
        default="node",
        help="node: one critic call per node; round: one call scores a whole round (reported as orps-round)",
    )
    p.add_argument(
        "--agreement",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="among candidates tied on the public tests, choose the one the others agree with on "
        "probe inputs (reported with a +agree suffix)",
    )
    p.add_argument("--api-base", default="", help="base URL for the model server")
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--beam", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--seed", type=int, default=0, help="the search's seed (default 0)")
    p.add_argument(
        "--seeds",
        default="",
        metavar="LIST",
        help="comma-separated seeds, e.g. 0,1,2: run every strategy and budget once per seed; "
        "pass@1 is then reported over all seeds with a 95%% Wilson interval",
    )
    p.add_argument(
        "--shard",
        default="",
        metavar="K/N",
        help="run only shard K of N of the problems (every N-th from the K-th), into its own results "
        "file in --out; run shards in several processes or machines on a shared --out, then once "
        "without --shard (with --resume) for the whole report",
    )
    p.add_argument("--budget-calls", type=int, default=0, help="model calls per problem, the same for every strategy")
    p.add_argument("--sweep", default="", help="comma-separated call budgets, e.g. 4,8,16: run every strategy at each")
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="problems solved at once (default 1); with --ray: model calls at once across the "
        "whole cluster (problems run one per cluster CPU)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per test run (default 10)")
    p.add_argument("--out", default="", help="output directory (default .orps/bench/<dataset>-<time>)")
    p.add_argument("--json", dest="json_out", default="", help="also write the JSON report to this file")
    p.add_argument("--plot", default="", help="plot file (.png or .svg; default <out>/pass_at_1.svg)")
    p.add_argument("--resume", action="store_true", help="continue the benchmark in --out, skipping finished problems")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="distribute problems on a Ray cluster (needs orps[ray]); 'local' starts one here",
    )
    from orps_tui.commands.ray_options import add_ray_env_arguments

    add_ray_env_arguments(p)
    p.set_defaults(func=run)


def grid_configs(args) -> list[BenchConfig]:
    from runners.bench.run import BenchConfig

    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    for s in strategies:
        if s not in STRATEGIES:
            raise UserError(f"unknown strategy {s!r}", hint=f"choose from {', '.join(STRATEGIES)}")
    budgets = [int(b) for b in args.sweep.split(",") if b.strip()] if args.sweep else [args.budget_calls]
    base = SearchSettings(
        model=args.model,
        critic_model=args.critic_model,
        api_base=args.api_base,
        seed=args.seed,
        timeout_s=args.timeout,
        cache=True,
        critic=args.critic,
        critic_mode=args.critic_mode,
        agreement=args.agreement,
    )
    for name in ("samples", "beam", "rounds", "max_tokens", "temperature"):
        if getattr(args, name) is not None:
            setattr(base, name, getattr(args, name))
    seeds = _seeds(args)
    configs = []
    for budget, strategy, seed in ((b, st, se) for b in budgets for st in strategies for se in seeds):
        s = SearchSettings.from_dict({**base.to_dict(), "strategy": strategy, "budget_calls": budget, "seed": seed})
        if budget and strategy == "orps" and args.rounds is None:
            s.rounds = 1000  # with a call budget, ORPS refines until the budget is spent
        problems = s.validate()
        if problems:
            raise UserError("bad settings: " + "; ".join(problems))
        # A distinct label keeps the ablation apart from orps in results, --resume and plots.
        label = "orps-nocritic" if strategy == "orps" and not args.critic else strategy
        if strategy == "orps" and args.critic and args.critic_mode == "round":
            label = "orps-round"
        label += "+agree" if args.agreement else ""
        configs.append(BenchConfig(label, budget, s))
    return configs


def _seeds(args) -> list[int]:
    if not args.seeds:
        return [args.seed]
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise UserError(
            f"--seeds {args.seeds!r} is not a list of whole numbers", hint="for example --seeds 0,1,2"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {args.seeds!r} needs distinct whole numbers", hint="for example --seeds 0,1,2")
    return seeds


def _shard(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 1 <= int(k) <= int(n):
        raise UserError(f"--shard {text!r} is not K/N with 1 <= K <= N", hint="for example --shard 1/2 and --shard 2/2")
    return int(k), int(n)


def run(args) -> int:
    import warnings

    from runners.bench.datasets import load_dataset
    from runners.bench.report import Progress, report, table, write_report
    from runners.bench.run import BenchRun, check_references
    from search.gateway import ModelError

    # litellm makes a provider's coroutine in a thread and awaits it later; a benchmark stopped
    # (or interrupted) in between leaves it unawaited: harmless, and not the user's concern.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)

    dataset = Path(args.dataset)
    if not (dataset / "dev.csv").is_file() or not (dataset / "test.csv").is_file():
        raise UserError(f"{dataset} is not a dataset directory: it needs dev.csv and test.csv")
    try:
        tasks = load_dataset(dataset, limit=args.limit or None, ids=args.ids)
    except (ValueError, KeyError) as err:
        raise UserError(f"cannot read {dataset}: {err}") from None
    if not tasks:
        raise UserError(f"no problems selected from {dataset}")
    configs = grid_configs(args)
    shard = _shard(args.shard)
    out = Path(args.out or Path(".orps") / "bench" / f"{dataset.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.resume and not args.out:
        raise UserError("--resume needs --out: the directory of the benchmark to continue")
    if shard and not args.out:
        raise UserError("--shard needs --out: the directory the shards share")
    evaluator, backend = _evaluator(args)
    started = time.perf_counter()

    def progress(result, done, total):
        print(progress_lines.line(result, done, total), file=sys.stderr, flush=True)

    concurrency, extra = args.concurrency, {}
    if backend["name"] == "ray":  # problems in flight: one per cluster CPU; --concurrency caps model calls
        from runners.bench.ray import RaySolver

        extra["solver"] = RaySolver(timeout_s=args.timeout, concurrency=args.concurrency)
        concurrency = max(1, backend["workers"])
    bench = BenchRun(
        tasks,
        configs,
        evaluator,
        out,
        concurrency=concurrency,
        resume=args.resume,
        on_result=progress,
        shard=shard,
        **extra,
    )
    progress_lines = Progress(bench.restored())

    async def references_then_search():
        failures: dict[str, str] = {}
        if evaluator is not None:  # with --ray the cluster's environment may differ: not checked here
            print(f"checking {len(bench.tasks)} reference solutions on the hidden tests", file=sys.stderr, flush=True)
            failures = await check_references(bench.tasks, evaluator, out)
            _warn_references(failures)
        return failures, await bench.run()

    try:
        try:
            reference_failures, by_config = asyncio.run(references_then_search())
        finally:
            if backend.get("started_here"):  # here, not in the bounded exit: a local cluster must not outlive us
                from runners.ray import shutdown

                shutdown()
    except KeyboardInterrupt:
        print(
            f"orps: benchmark interrupted; finished problems are in {bench.results_path} "
            f"(continue with --resume --out {out})",
            file=sys.stderr,
        )
        return 130
    except ModelError as err:  # only fatal ones reach here: the model cannot answer any problem
        raise UserError(
            f"benchmark stopped: {err.message}",
            hint=(err.hint + "; " if err.hint else "") + f"finished problems are kept: fix it and continue "
            f"with --resume --out {out}",
            code=3,
        ) from None
    meta = {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset.name,
        "model": args.model,
        "backend": backend["name"],
        "workers": backend["workers"],
        **({"nodes": backend["nodes"]} if "nodes" in backend else {}),
        "wall_s_total": round(time.perf_counter() - started, 1),
        "out": str(out),
        **({"shard": f"{shard[0]}/{shard[1]}"} if shard else {}),
        "reference_failures": reference_failures,
    }
    doc = report(by_config, configs, meta)
    plot_path = Path(args.plot) if args.plot else out / "pass_at_1.svg"
    plot_error = write_report(doc, out, plot_path, also=Path(args.json_out) if args.json_out else None)
    print(table(doc))
    _warn_references(reference_failures)
    print(f"report: {out / 'report.json'}" + (f"; plot: {plot_path}" if not plot_error else f"; {plot_error}"))
    return 0


def _warn_references(failures: dict[str, str]) -> None:
    if not failures:
        return
    print(
        f"warning: the reference solution fails the hidden tests here for {len(failures)} problem(s); "
        "no strategy can solve them in this environment:",
        file=sys.stderr,
    )
    for task_id, why in failures.items():
        print(f"  {task_id}: {why}", file=sys.stderr)


def _evaluator(args):
    if args.ray:  # Ray is imported only here, and only with --ray
        from orps_tui.commands.ray_options import ray_env
        from runners.ray import RayUnavailable, connect

        env = ray_env(args, [args.model, args.critic_model])  # the models are called on the workers
        try:  # a program (or test) that embeds us and started Ray itself keeps its Ray
            import ray

            already = ray.is_initialized()
        except ImportError:  # connect() says how to install it
            already = False
        try:
            return None, {**connect(args.ray, env_vars=env), "started_here": not already}
        except RayUnavailable as err:
            from orps_tui.commands.doctor import RAY_CONNECT_HINT

            hint = "use --ray local to start one here" if args.ray == "local" else RAY_CONNECT_HINT
            raise UserError(str(err), hint=hint) from None
    from runners.testing.evaluator import SandboxEvaluator

    return SandboxEvaluator(timeout_s=args.timeout), {"name": "local", "workers": 1}
