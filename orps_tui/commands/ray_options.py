"""The `--ray-env` options of the commands whose model calls run on Ray workers (bench, doctor)."""

from __future__ import annotations


def add_ray_env_arguments(parser) -> None:
    """`--ray-env VAR` and `--no-ray-env`, for the commands whose model calls run on workers."""
    parser.add_argument(
        "--ray-env",
        action="append",
        default=[],
        metavar="VAR",
        help="with --ray: also send this environment variable to the workers (repeatable)",
    )
    parser.add_argument(
        "--no-ray-env",
        dest="ray_env_auto",
        action="store_false",
        help="with --ray: do not send the model's provider variables (keys, api base) to the "
        "workers, for nodes that hold their own; --ray-env names are still sent",
    )


def ray_env(args, models: list[str]) -> dict[str, str]:
    """The variables sent to the workers (see `runners.ray.model_env_vars`); their names
    are printed, never their values."""
    import sys

    from runners.ray import model_env_vars

    env = model_env_vars(models if args.ray_env_auto else [], args.ray_env)
    missing = [name for name in args.ray_env if name not in env]
    if missing:
        print(f"warning: --ray-env {', '.join(missing)}: not set here, not sent", file=sys.stderr)
    print(f"ray: sending {', '.join(env) or 'no environment variables'} to the workers", file=sys.stderr)
    return env
