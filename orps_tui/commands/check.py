"""`orps check`: not built yet."""

from orps_tui.errors import UserError


def add_parser(sub):
    p = sub.add_parser("check", help="(not built yet)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise UserError("'orps check' is not built yet in this version.", code=2)
