"""`orps bench`: not built yet."""

from orps_tui.errors import UserError


def add_parser(sub):
    p = sub.add_parser("bench", help="(not built yet)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise UserError("'orps bench' is not built yet in this version.", code=2)
