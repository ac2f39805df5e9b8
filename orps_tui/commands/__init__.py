"""One module per `orps` subcommand: `add_parser(subparsers)` and `run(args) -> int`."""
