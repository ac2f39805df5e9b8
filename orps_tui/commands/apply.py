"""`orps apply`: not built yet."""

from orps_tui.errors import UserError


def add_parser(sub):
    p = sub.add_parser("apply", help="(not built yet)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise UserError("'orps apply' is not built yet in this version.", code=2)
