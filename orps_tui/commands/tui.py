"""`orps` with no command: open the TUI (not built yet)."""

from orps_tui.errors import UserError


def run(args) -> int:
    raise UserError("the TUI is not built yet in this version; see 'orps --help'.", code=2)
