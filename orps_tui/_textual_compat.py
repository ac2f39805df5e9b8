"""Textual's private names that orps uses, all here (textual is pinned below 9 in pyproject.toml).

Imported from Textual's private modules (not exported by `textual.widgets`):
- `TwoWayDict` (textual._two_way_dict), the row index of a `DataTable`, and
  `default_cell_formatter` (textual.widgets._data_table): the node table
  (orps_tui/widgets/nodes.py) reorders rows in place and measures cells as Textual does;
- `FooterKey` (textual.widgets._footer): the footer (orps_tui/widgets/footer.py) makes each key
  with the value and class it ends up with.

Private members of Textual's classes that orps's subclasses override or read are listed in
`PRIVATE_MEMBERS`: the first paint of a screen (orps_tui/screens/first_paint.py overrides
`Screen._compositor_refresh`), the app's clean exit on an unexpected exception
(orps_tui/app.py's `CleanExit` overrides `App._handle_exception` and sets what it sets), the
node table's cached line rendering and its repaint without a layout when it grows
(`_update_dimensions`, `_scroll_update`), the footer's `_bindings_ready`. `missing_private_names` lists what the installed Textual no longer has
(tests/test_compat.py).
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from textual.widgets.data_table import RowKey  # public; re-exported beside the table's private names


def textual_version() -> str:
    return version("textual")


def _private(module_name: str, name: str) -> Any:
    """`name` from Textual's private module, or an ImportError that says which name is gone."""
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise ImportError(
            f"orps uses {module_name}.{name}, which textual {textual_version()} does not have "
            f"(orps_tui/_textual_compat.py lists Textual's private names orps relies on)"
        ) from err


PRIVATE_IMPORTS = {
    "textual._two_way_dict": ("TwoWayDict",),
    "textual.widgets._data_table": ("default_cell_formatter",),
    "textual.widgets._footer": ("FooterKey",),
}
"""Private module -> the names imported from it."""

if TYPE_CHECKING:  # typed as Textual declares them
    from textual._two_way_dict import TwoWayDict
    from textual.widgets._data_table import default_cell_formatter
    from textual.widgets._footer import FooterKey
else:  # at run time, with a clear error when one is gone
    TwoWayDict = _private("textual._two_way_dict", "TwoWayDict")
    default_cell_formatter = _private("textual.widgets._data_table", "default_cell_formatter")
    FooterKey = _private("textual.widgets._footer", "FooterKey")

PRIVATE_MEMBERS = {
    "textual.app.App": (
        "_handle_exception",
        "_exception",
        "_exception_event",
        "_return_code",
        "_close_messages_no_wait",
    ),
    "textual.screen.Screen": ("_compositor_refresh",),
    "textual.widgets.Footer": ("_bindings_ready",),
    "textual.widgets.DataTable": (
        "_render_line",
        "_render_line_in_row",
        "_render_cell",
        "_get_styles_to_render_cell",
        "_labelled_row_exists",
        "_on_click",
        "_on_mouse_move",
        "_get_offsets",
        "_y_offsets",
        "_data",
        "_row_locations",
        "_column_locations",
        "_pseudo_class_state",
        "_require_update_dimensions",
        "_show_hover_cursor",
        "_update_count",
        "_update_dimensions",
        "_scroll_update",
    ),
}
"""Textual class -> the private members orps's subclasses override or read (methods on the
class, attributes on a new instance)."""


def missing_private_names() -> list[str]:
    """The private names orps relies on that the installed Textual lacks ("module.name")."""
    missing = []
    for module_name, names in PRIVATE_IMPORTS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing += [f"{module_name}.{name}" for name in names]
            continue
        missing += [f"{module_name}.{name}" for name in names if not hasattr(module, name)]
    for qualified, members in PRIVATE_MEMBERS.items():
        module_name, class_name = qualified.rsplit(".", 1)
        cls = getattr(importlib.import_module(module_name), class_name)
        instance = cls()
        missing += [f"{qualified}.{member}" for member in members if not hasattr(instance, member)]
    return missing


__all__ = [
    "FooterKey",
    "PRIVATE_IMPORTS",
    "PRIVATE_MEMBERS",
    "RowKey",
    "TwoWayDict",
    "default_cell_formatter",
    "missing_private_names",
    "textual_version",
]
