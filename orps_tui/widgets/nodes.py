"""The live table of the search tree (`NodeTable`) and its rows' cells. One node's detail
tabs and the wrapping diff are in `orps_tui.widgets.node_detail`. Kept whole because the
table's row placement, folding, column widths and line cache work on the same DataTable
internals and each relies on what the others keep up to date."""

from __future__ import annotations

from contextlib import contextmanager

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.render import measure
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey

from orps_tui._textual_compat import RowKey, TwoWayDict, default_cell_formatter
from orps_tui.widgets.node_detail import DiffText, NodeDetail, RenderOnce, feedback_text  # noqa: F401 - their older home
from search import scoring
from search.tree import ORIGINAL_ID, Node, SearchTree, node_name

ID_COLUMN = ColumnKey("id")

COLUMNS = [
    ("best", " "),
    ("id", "node"),
    ("pass", "pass"),
    ("process", "proc"),
    ("outcome", "outc"),
    ("runtime", "runtime"),
    ("style", "style"),
]
"""The round is in the node id (`<round>-<index>`); the style comes last, so a narrow
terminal (80 columns) cuts the style, never the figures."""

LEGEND = (
    "★ best  ● kept in the beam (refined)  dim: pruned  ▸ folded round (f folds/unfolds)  ·  pass: "
    "tests passed  proc: critic's score 1-5 (~: none, outcome used)  outc: outcome score  runtime: the "
    "tests' time"
)
"""What the marks and columns of the tree mean, shown under it."""


def node_order(node_id: str) -> tuple[int, int, str]:
    """Sort key of node ids: the original first, then `<round>-<index>` numerically."""
    if node_id == ORIGINAL_ID:
        return (-1, 0, "")
    head, _, tail = node_id.partition("-")
    try:
        return (int(head), int(tail), "")
    except ValueError:
        return (10**6, 0, node_id)


def pass_text(node: Node) -> Text:
    ev = node.evaluation
    return Text(
        "…" if ev is None else f"{ev.passed}/{ev.total}",
        style="green" if node.all_passed else ("yellow" if ev and ev.passed else "red"),
    )


def name_cell(node_id: str, depth: int, kept: bool = False, pruned: bool = False) -> Text:
    """The node column: indented under its parent (`└`), `●` when the beam kept it, dim
    when it was pruned."""
    indent = "  " * (depth - 1) + "└ " if depth else ""
    return Text(indent + ("● " if kept else "") + node_name(node_id), style="dim" if pruned else "")


def node_cells(node: Node, depth: int = 0) -> list:
    ev = node.evaluation
    process = "-" if node.process_score is None else f"{node.process_score:.0f}"
    if node.critic_fallback and node.process_score is None:
        process = "~"
    runtime = "-" if ev is None or ev.runtime_s is None else f"{ev.runtime_s * 1000:.1f}ms"
    return [
        "",
        name_cell(node.id, depth),
        pass_text(node),
        process,
        f"{node.outcome_score:.2f}",
        runtime,
        Text((node.style or "").split(":")[0][:24]),
    ]  # a Text: DataTable reads a str as markup


_EMPTY = Text()

_AWAY = Coordinate(-2, -2)
"""Where the cursor (or hover) is, as far as a row it is not on can tell."""


def _thumb(bar: ScrollBar, virtual_size: int) -> list[Segment]:
    """The lines vertical scrollbar `bar` shows for a table `virtual_size` rows high, as
    `ScrollBar.render` draws them (its colours aside)."""
    window = bar.window_size if bar.window_size < virtual_size else 0
    return ScrollBarRender.render_bar(
        size=bar.size.height, virtual_size=virtual_size, window_size=window, position=bar.position
    ).segments


class _OneLineRows:
    """DataTable's list of (row key, line in the row) per line, read from its row index,
    for a table whose rows are all one line high."""

    def __init__(self, locations: TwoWayDict, count: int):
        self.locations, self.count = locations, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, y: int) -> tuple[RowKey, int]:
        key = self.locations.get_key(y) if 0 <= y < self.count else None
        if key is None:
            raise IndexError(y)
        return key, 0

    def __iter__(self):
        return ((self.locations.get_key(y), 0) for y in range(self.count))

    def clear(self) -> None:  # DataTable.clear() empties the list it built; here the row index is emptied
        pass


class NodeTable(DataTable):
    """The search tree, one row per node under its parent (depth-first, siblings in id
    order); ★ marks the current best, ● the nodes the beam kept, pruned ones are dim.
    Updating a row touches only its cells, a new node's row goes straight to its place, and
    only rows whose cells changed are rendered again (see `_render_line_in_row`). `f` folds
    a round: its nodes the beam did not keep become one summary row."""

    def _render_line_in_row(self, row_key, line_no, base_style, cursor_location, hover_location):
        # With a row cursor, a row the cursor is not on looks the same wherever the cursor
        # is: render it as if the cursor were away, so that DataTable's own cache (keyed
        # on the cursor's position) holds across moves. (Textual 8's private render hooks;
        # textual is pinned below 9.)
        if self.cursor_type == "row":
            row = self._row_locations.get(row_key)
            row = -1 if row is None else row  # the header row
            if cursor_location.row != row:
                cursor_location = _AWAY
            if hover_location.row != row:
                hover_location = _AWAY
            if row >= 0 and not self._row_decorations():
                return self._render_plain_row(row, line_no, base_style, cursor_location, hover_location)
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)

    def _row_decorations(self) -> bool:
        """Whether rows have more than their cells: fixed rows or columns, zebra stripes,
        labels (this table has none of them; DataTable renders such rows)."""
        labels = self._labelled_row_exists and self.show_row_labels
        return bool(self.fixed_rows or self.fixed_columns or self.zebra_stripes or labels)

    def _render_plain_row(self, row, line_no, base_style, cursor_location, hover_location):
        """DataTable's `_render_line_in_row` for a row of cells and a row cursor, without
        what this table never has (see `_row_decorations`): DataTable's computes the
        header's, fixed cells' and each column's styles and order again for every line,
        about as long as rendering the line's cells."""
        cursor, hover = cursor_location.row == row, hover_location.row == row
        cells = []
        table_width = 0
        for column_index, column in enumerate(self.ordered_columns):
            width = column.get_render_width(self)
            table_width += width
            cells.append(self._render_cell(row, column_index, base_style, width, cursor=cursor, hover=hover)[line_no])
        # the rest of the line, as wide as the table, in the row's look
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor, False, False
        )
        extend_style = base_style + extend_style + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        cells.append([Segment(" " * max(0, self.size.width - table_width), extend_style)])
        return [], cells

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every line's look depends on besides its row, once per frame: asked of
        # each of 40 lines, the table's style (its background from its ancestors) and
        # the columns' widths took longer than their lines when those were kept.
        self._frame_looks = self._looks()
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_looks = self._frame_style = None

    def _looks(self) -> tuple:
        return (self.size.width, tuple(c.get_render_width(self) for c in self.ordered_columns), self.app.theme)

    def render_line(self, y: int) -> Strip:
        if self.fixed_rows or self._frame_style is None:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset  # as DataTable's: the header stays, the rows scroll
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, self._frame_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        # DataTable keys every line's rendering on the table's update count, which any
        # cell update or new row changes: each node arriving re-rendered every visible
        # line (about 100 ms with 500 nodes). Lines are kept here per row instead, keyed
        # on what their look depends on: the row's own cells (a version bumped when one
        # changes), the column widths, the cursor and hover when on the row, the focus and
        # theme. A row moved by an insertion above it keeps its line as it is (the row
        # index its segments carry is then stale: the mouse reads the row from where it
        # is, see `_at_pointer`).
        if self.cursor_type != "row":
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row = self._row_locations.get(row_key)
        row = -1 if row is None else row
        on_row = (self.cursor_coordinate.row == row, self.hover_coordinate.row == row)
        key = (
            row_key,
            line_no,
            x1,
            x2,
            on_row,
            self.cursor_coordinate if on_row[0] else None,
            base_style,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self._row_versions.get(row_key, 0),
            self._frame_looks or self._looks(),  # the width, the columns' widths, the theme
        )
        strip = self._lines_rendered.get(key)
        if strip is None:
            if len(self._lines_rendered) > 4000:  # bounded: a long search scrolls through many
                self._lines_rendered.clear()
            strip = super()._render_line(y, x1, x2, base_style)
            self._lines_rendered[key] = strip
        return strip

    def _render_cell(self, row_index, column_index, base_style, width, cursor=False, hover=False):
        # DataTable keys a cell's rendering on the table's update count too: when the
        # beam's marks change a row's name, the row's six other cells were rendered again
        # (Rich's padding and styling of each: most of a round's first node's cost).
        # Here a cell is kept until its own value changes (the object: a changed cell is a
        # new one), or its place, width or look does.
        if row_index < 0 or column_index < 0:  # the header
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        value = self._data.get(row_key, {}).get(column_key)
        key = (
            row_key,
            column_key,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.app.theme,
        )
        cached = self._cells_rendered.get(key)
        if cached is not None and cached[0] is value:
            return cached[1]  # its row may have moved since: see `_at_pointer`
        if len(self._cells_rendered) > 20000:  # bounded: a long search scrolls through many
            self._cells_rendered.clear()
        lines = self._render_one_line_cell(value, row_index, column_index, base_style, width, cursor, hover)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cells_rendered[key] = (value, lines)
        return lines

    def _render_one_line_cell(self, value, row_index, column_index, base_style, width, cursor, hover):
        """The segments DataTable renders for a one-line text cell (its padding, the
        cursor's and the table's styles, the row and column for the mouse), made directly
        from the text's segments: through Rich's padding and styling renderables a cell
        cost 0.31 ms against 0.07 here (under load), and a node arriving renders 7 to 20
        of them. None for any other cell (DataTable's own rendering then)."""
        cell = _EMPTY if value is None else default_cell_formatter(value, wrap=False, height=1) or _EMPTY
        if (
            not isinstance(cell, Text)
            or cell.justify not in (None, "default")
            or cell.overflow not in (None, "fold", "crop")
            or "\n" in cell.plain
            or "\t" in cell.plain
            or row_index < self.fixed_rows
            or column_index < self.fixed_columns
            or self.rows[self._row_locations.get_key(row_index)].height != 1
        ):
            return None
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        console = self.app.console
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        if cell.spans:
            text = list(cell.render(console))
        else:  # Text.render leaves the text's own style to its caller when it has no spans
            text = [Segment(cell.plain, console.get_style(cell.style, default=Style.null()))]
        pad = self.cell_padding
        inner = Segment.adjust_line_length(text, max(0, width - 2 * pad), style=Style.null())
        line = [Segment(" " * pad, Style.null()), *inner, Segment(" " * pad, Style.null())] if pad else inner
        return [list(Segment.apply_style(line, style=pre_style, post_style=post_style))]

    def _at_pointer(self, event: events.MouseEvent) -> None:
        """Set the row that mouse `event`'s style names (DataTable reads it there) from the
        line the pointer is on: a line kept from before rows were inserted above it names
        the row it was, and rewriting every moved line's segments cost more than a frame."""
        meta = event.style.meta
        offset = event.get_content_offset(self)
        if offset is None or "row" not in meta or meta["row"] < 0:  # the header names no row
            return
        header = self.header_height if self.show_header else 0
        row = offset.y - header + round(self.scroll_y)
        if row != meta["row"] and 0 <= row < self.row_count:
            event.style = event.style + Style.from_meta({"row": row})

    async def _on_click(self, event: events.Click) -> None:
        self._at_pointer(event)
        await super()._on_click(event)

    def _on_mouse_move(self, event: events.MouseMove):
        self._at_pointer(event)
        return super()._on_mouse_move(event)

    def _update_dimensions(self, new_rows) -> None:
        # A new row makes the table taller, and Textual then lays out the whole screen again
        # and paints all of it (about 17 ms at 160x48, more than a frame). While the
        # vertical scrollbar is shown and stays shown (the table grows) and the width is
        # the same, nothing outside the table moves: only its scrollbar and the rows from
        # the first new one down need painting. Any other change of size is laid out.
        before = self.virtual_size
        self._sizing = []
        try:
            super()._update_dimensions(new_rows)
        finally:
            asked, self._sizing = self._sizing, None
        if not asked:
            return
        after = self.virtual_size
        grown = self.show_vertical_scrollbar and after.width == before.width and after.height > before.height
        if not (grown and self.screen.is_current):  # a screen underneath would repaint the one on top
            self.refresh(layout=True)
            return
        bar = self.vertical_scrollbar
        if _thumb(bar, before.height) == _thumb(bar, after.height):  # most often, with many rows
            bar.set_reactive(ScrollBar.window_virtual_size, after.height)  # no repaint of all its lines
        else:
            self._scroll_update(after)
        rows = [self._row_locations.get(key) for key in new_rows]
        self._refresh_rows_from(min((r for r in rows if r is not None), default=0))

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False):
        if layout and self._sizing is not None and not regions and not recompose:
            self._sizing.append(True)  # the new size decides (see _update_dimensions)
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _refresh_rows_from(self, index: int) -> None:
        """Paint rows `index` and below, as far as they are in view (a row inserted at
        `index` shifted them); every row is one line high."""
        header = self.header_height if self.show_header else 0
        if header + index - round(self.scroll_y) < header:  # above the view: every row in view moved
            self.refresh()
        else:
            self._refresh_rows(index, None)

    @contextmanager
    def _painting_once(self):
        """Rows whose cells change inside are painted once at the end, each run of
        adjacent rows as one region (the beam's marks change 20 rows at once)."""
        if self._rows_to_paint is not None:  # inside another: that one paints
            yield
            return
        self._rows_to_paint = set()
        try:
            yield
        finally:
            keys, self._rows_to_paint = self._rows_to_paint, None
            rows = sorted(i for i in map(self._row_locations.get, keys) if i is not None)
            start = 0
            for at, row in enumerate(rows):
                if at + 1 == len(rows) or rows[at + 1] != row + 1:
                    self._refresh_rows(rows[start], row + 1)
                    start = at + 1

    def _refresh_rows(self, start: int, end: int | None) -> None:
        """Paint the lines of rows `start` to `end` (exclusive; None: the last), as far as
        they are in view; every row is one line high."""
        header = self.header_height if self.show_header else 0
        height = self.scrollable_content_region.height
        top = max(header, header + start - round(self.scroll_y))
        bottom = height if end is None else min(height, header + end - round(self.scroll_y))
        if top < bottom:
            self.refresh(Region(0, top, self.size.width, bottom - top))

    @property
    def _y_offsets(self):
        # DataTable rebuilds its line -> row list (from a list of every row, built too) on
        # each update of any cell: twice a frame's cost at 500 rows. Every row here is one
        # line high, so the row index is that list already.
        if self._taller_rows:
            return DataTable._y_offsets.fget(self)
        return _OneLineRows(self._row_locations, self.row_count)

    def add_row(self, *cells, height: int | None = 1, key: str | None = None, label=None):
        if height != 1:
            self._taller_rows = True
        self._row_versions[key] = self._row_versions.get(key, 0) + 1  # a row added again (unfolded)
        return super().add_row(*cells, height=height, key=key, label=label)

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        # DataTable's repaints the whole table for one cell: a round's first node changes
        # the marks of about 20 rows, and each repainted every line in view. Only the
        # changed row's line is repainted here (a wider column still lays out the table).
        if update_width:
            super().update_cell(row_key, column_key, value, update_width=True)
        else:
            row_key = row_key if isinstance(row_key, RowKey) else RowKey(row_key)
            column_key = column_key if isinstance(column_key, ColumnKey) else ColumnKey(column_key)
            if row_key not in self._row_locations or column_key not in self._column_locations:
                raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
            self._data[row_key][column_key] = value
            self._update_count += 1  # DataTable's own caches of this row's rendering are stale
            index = self._row_locations.get(row_key)
            if index is not None and self._rows_to_paint is not None:
                self._rows_to_paint.add(row_key)  # painted with the others at the end (see `_painting_once`)
            elif index is not None:
                self._refresh_rows(index, index + 1)
        key = row_key.value if hasattr(row_key, "value") else row_key
        self._row_versions[key] = self._row_versions.get(key, 0) + 1

    BINDINGS = [
        Binding("f", "toggle_round", "Fold round"),
        Binding("g", "scroll_home", "First node", show=False),
        Binding("G", "scroll_end", "Last node", show=False),
    ]

    best_id: str | None = None
    _frame_looks: tuple | None = None
    _frame_style: Style | None = None
    """While a frame's lines are rendered: what they all depend on (see `render_lines`)."""
    _taller_rows = False
    """Whether a row more than one line high was ever added (see `_y_offsets`)."""
    _sizing: list[bool] | None = None
    """While the table's size is recomputed: whether it asked for a layout."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._row_versions: dict = {}
        """Row key -> how many times its cells changed (part of its rendering's cache key)."""
        self._lines_rendered: dict = {}
        self._cells_rendered: dict = {}
        """Rendered cells, kept while their value is the same object (see `_render_cell`)."""
        self.paths: dict[str, tuple] = {}
        """Node id -> its place in the tree (the ids' orders from the root down)."""
        self.marks: dict[str, tuple[bool, bool]] = {}
        """Node id -> (kept, pruned) as its name cell shows it."""
        self.nodes: dict[str, Node] = {}
        """Every node shown or folded away, by id."""
        self.folded: set[int] = set()
        """Rounds whose nodes the beam did not keep are folded into one summary row."""
        self._pending: dict[str, Node] = {}
        """Nodes `show_later` holds until the next frame, by id."""
        self._pending_tree: tuple[SearchTree, str] | None = None
        self._flush_timer: Timer | None = None
        self._rows_to_paint: set[RowKey] | None = None
        """While changes are gathered (see `_painting_once`): the rows whose cells changed."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False  # a row inserted above would flip the stripes of every row below it
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def _update_column_widths(self, updated_cells) -> None:
        # Columns only grow: DataTable re-measures every cell of a column (all 500 rows)
        # whenever one cell gets narrower, which a new node or a mark often is.
        console = self.app.console
        for row_key, column_key in updated_cells:
            column, row = self.columns.get(column_key), self.rows.get(row_key)
            if column is None or row is None:
                continue
            width = measure(console, default_cell_formatter(self._data[row_key][column_key]), 1)
            column.content_width = max(column.content_width, width, measure(console, column.label, 1))
        self._require_update_dimensions = True

    def reserve(self, plan: dict) -> None:
        """Widen the node column, once, for the deepest and longest name `plan` (the plan
        event's data) can produce: a round's first node then widens no column, which
        would lay out and render again every line in view. Without an ORPS plan (other
        strategies, a loaded tree) the column grows with the nodes as they come."""
        if plan.get("strategy", "orps") != "orps" or ID_COLUMN not in self.columns:
            return
        try:
            rounds, samples = int(plan["rounds"]), int(plan["samples"])
            width = int(plan["beam"]) * int(plan["children_each"])
        except (KeyError, TypeError, ValueError):
            return
        below_original = 1 if plan.get("start") == "user_code" else 0  # round 0 refines the original
        widest = name_cell(ORIGINAL_ID, 0, kept=bool(below_original)).cell_len
        for round_ in range(rounds + 1):
            count = samples if round_ == 0 else width
            if count < 1:
                continue
            depth = round_ + below_original
            cell = name_cell(f"{round_}-{count - 1}", depth, kept=round_ < rounds)
            widest = max(widest, cell.cell_len)
        column = self.columns[ID_COLUMN]
        if widest > column.content_width:
            column.content_width = widest
            self._require_update_dimensions = True
            self.refresh()

    # -- rows in tree order ---------------------------------------------------------------------
    def _place(self, key: str) -> None:
        """Move row `key` (just added, last) to its place in tree order, shifting the rows
        after it: no sort of the whole table, and one redraw for the new node."""
        path = self._path_of(key)
        last = self._row_locations.get(RowKey(key))
        assert last is not None  # just added
        # the rows above it are in tree order: bisect them (a scan of 500 paths per node was
        # a good part of an arrival's cost)
        locations = self._row_locations
        low, high = 0, last
        while low < high:
            middle = (low + high) // 2
            if self._path_of(self._key_at(middle)) < path:
                low = middle + 1
            else:
                high = middle
        index = low
        if index == last:
            self._refresh_rows_from(index)
            return
        # the rows from `index` down move one down: the index made again from the rows in
        # order (dict and zip run in C; shifting each entry in place took 2 ms at 500 rows)
        get_key = locations.get_key
        order = [k for k in map(get_key, range(last + 1)) if k is not None]  # every index has its row
        order.insert(index, order.pop())
        self._row_locations = TwoWayDict(dict(zip(order, range(last + 1))))
        self._update_count += 1
        self._refresh_rows_from(index)  # the rows above it did not move

    def _key_at(self, index: int) -> str:
        key = self._row_locations.get_key(index)
        assert key is not None and key.value is not None  # every index has its row, every row a key
        return key.value

    def _path_of(self, key: str) -> tuple:
        if key.startswith("round-"):  # a folded round's summary: where its first folded node was
            return self._summary_path(int(key[6:]))
        return self.paths.get(key, ((10**6, 0, key),))

    def sort_nodes(self) -> None:
        """Rows in tree order (each node under its parent); the cursor stays on its node."""
        current = self.current_id()
        keys = sorted((k.value for k in self._row_locations), key=self._path_of)
        self._row_locations = TwoWayDict({RowKey(k): i for i, k in enumerate(keys)})
        self._update_count += 1
        self.refresh()
        if current is not None and current in self.rows:
            self.move_cursor(row=self.get_row_index(current), scroll=False)

    def action_scroll_home(self) -> None:
        """Home and End go to the first and last node, keeping the node column in view
        (DataTable's also scroll to the last column, which hides the node names)."""
        if self.row_count:
            self.move_cursor(row=0)
            self.scroll_to(x=0, animate=False)

    def action_scroll_end(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
            self.scroll_to(x=0, animate=False)

    def current_id(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    # -- nodes ----------------------------------------------------------------------------------
    FRAME_S = 1 / 60
    """Nodes arriving within this time of the first one waiting are shown together."""

    def show_later(self, node: Node, tree: SearchTree, goal: str = "fix") -> None:
        """Show `node` (new or changed) and the ★ of `tree` at the next frame, with every
        other node that arrives before it: a batch of samples finishing together is
        placed and painted once, not once per node."""
        self._pending[node.id] = node
        self._pending_tree = (tree, goal)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(self.FRAME_S, self.flush)

    def flush(self) -> None:
        """Show the nodes `show_later` holds, now."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        pending, self._pending = self._pending, {}
        with self._painting_once():
            for node in sorted(pending.values(), key=lambda n: node_order(n.id)):  # parents first
                self.upsert(node)
            if self._pending_tree is not None:
                tree, goal = self._pending_tree
                self._pending_tree = None
                self.mark_best(tree, goal)

    def upsert(self, node: Node, place: bool = True) -> None:
        """Show `node` (new or changed); a new one goes straight to its place in the tree."""
        self.nodes[node.id] = node
        if node.id not in self.paths:
            parent = self.paths.get(node.parent or "", ())
            self.paths[node.id] = (*parent, node_order(node.id))
            self.marks[node.id] = (False, False)
        if not self._visible(node.id):
            self._show_summary(node.round, place)
            return
        kept, pruned = self.marks[node.id]
        cells = node_cells(node, len(self.paths[node.id]) - 1)
        cells[1] = name_cell(node.id, len(self.paths[node.id]) - 1, kept, pruned)
        if node.id in self.rows:
            for (key, _), value in zip(COLUMNS[2:], cells[2:]):
                self.update_cell(node.id, key, value)
        else:
            if node.id == self.best_id:
                cells[0] = Text("★", style="bold yellow")
            self.add_row(*cells, key=node.id)
            if place:
                self._place(node.id)

    def fill(self, tree: SearchTree, goal: str = "fix") -> None:
        self.flush()  # what it holds is in `tree` too; shown now, before the marks
        for node in sorted(tree, key=lambda n: node_order(n.id)):  # parents before children
            self.upsert(node, place=False)
        self.mark_tree(tree)
        self.mark_best(tree, goal)
        self.sort_nodes()

    def mark_tree(self, tree: SearchTree) -> None:
        """● on every node that has children (the beam kept it), dim on the evaluated ones
        a later round passed over (pruned). Only rows whose marks change are updated."""
        self.flush()  # the nodes the round made, before their marks
        with self._painting_once():
            self._mark_tree(tree)

    def _mark_tree(self, tree: SearchTree) -> None:
        parents = {n.parent for n in tree if n.parent}
        last_round = max((n.round for n in tree if n.id != ORIGINAL_ID), default=0)
        for node in tree:
            if node.id not in self.paths:
                continue
            kept = node.id in parents  # the original too, when the beam refined your code
            pruned = not kept and node.id != ORIGINAL_ID and node.round < last_round and node.evaluation is not None
            if self.marks.get(node.id) == (kept, pruned):
                continue
            self.marks[node.id] = (kept, pruned)
            if node.id in self.rows:
                if not self._visible(node.id):  # a folded round's node that the beam passed over
                    self.remove_row(node.id)
                    self._show_summary(node.round)
                    continue
                cell = name_cell(node.id, len(self.paths[node.id]) - 1, kept, pruned)
                self.update_cell(
                    node.id, "id", cell, update_width=cell.cell_len > self.columns[ID_COLUMN].content_width
                )
            elif self._visible(node.id):  # folded, and now kept: its children need it
                self._show_summary(node.round)  # first: the round's row moves if it was where this node goes
                self.upsert(node)

    # -- folding rounds -------------------------------------------------------------------------
    def _visible(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return (
            node is None
            or node.round not in self.folded
            or node_id == ORIGINAL_ID
            or self.marks.get(node_id, (False, False))[0]
        )

    def _hidden(self, round_: int) -> list[str]:
        return sorted((i for i, n in self.nodes.items() if n.round == round_ and not self._visible(i)), key=node_order)

    def _summary_path(self, round_: int) -> tuple:
        hidden = self._hidden(round_)
        return self.paths[hidden[0]] if hidden else ((10**6, round_, ""),)

    def _show_summary(self, round_: int, place: bool = True) -> None:
        """The summary row of folded round `round_`: how many nodes it hides."""
        key = f"round-{round_}"
        hidden = self._hidden(round_)
        if not hidden:
            if key in self.rows:
                self.remove_row(key)
            return
        # short: columns only grow (see _update_column_widths), and the legend says what f does
        label = Text(f"▸ round {round_}: {len(hidden)} folded", style="dim italic")
        if key in self.rows and place and not self._in_order(key):  # its first folded node came back
            self.remove_row(key)
        if key in self.rows:
            self.update_cell(key, "id", label, update_width=label.cell_len > self.columns[ID_COLUMN].content_width)
        else:
            self.add_row("", label, "", "", "", "", "", key=key)
            if place:
                self._place(key)

    def _in_order(self, key: str) -> bool:
        """Whether row `key` is between its neighbours in tree order (new rows are placed
        by bisection, which needs the rows in order)."""
        at = self.get_row_index(key)
        path = self._path_of(key)
        before = at == 0 or self._path_of(self._key_at(at - 1)) < path
        return before and (at + 1 == self.row_count or path < self._path_of(self._key_at(at + 1)))

    def round_of(self, key: str | None) -> int | None:
        if key is None:
            return None
        if key.startswith("round-"):
            return int(key[6:])
        node = self.nodes.get(key)
        return None if node is None or node.id == ORIGINAL_ID else node.round

    def action_toggle_round(self) -> None:
        """Fold the highlighted node's round (its nodes the beam did not keep become one
        summary row), or unfold a folded one."""
        round_ = self.round_of(self.current_id())
        if round_ is None:
            self.notify("The original is in no round: highlight a node of the round to fold.")
            return
        self.toggle_round(round_)

    def toggle_round(self, round_: int) -> None:
        key = f"round-{round_}"
        if round_ in self.folded:
            self.folded.discard(round_)
            hidden = [i for i, n in self.nodes.items() if n.round == round_ and i not in self.rows]
            if key in self.rows:
                self.remove_row(key)
            for node_id in hidden:
                self.upsert(self.nodes[node_id], place=False)
            self.sort_nodes()
            first = min(hidden, key=node_order, default=None)
            if first is not None and first in self.rows:
                self.move_cursor(row=self.get_row_index(first))
            return
        self.folded.add(round_)
        if not self._hidden(round_):
            self.folded.discard(round_)
            self.notify(f"Round {round_}: the beam kept every node, nothing to fold.")
            return
        for node_id in self._hidden(round_):
            if node_id in self.rows:
                self.remove_row(node_id)
        self._show_summary(round_, place=False)
        self.sort_nodes()
        if key in self.rows:
            self.move_cursor(row=self.get_row_index(key))

    def mark_best(self, tree: SearchTree, goal: str = "fix") -> None:
        """★ on the best candidate, only while it beats the original (a cancelled or
        unsolved search has no candidate worth a star)."""
        from orps_tui.result_doc import is_improvement

        best = scoring.best_node([n for n in tree if n.id != ORIGINAL_ID])
        self.set_star(best.id if best and is_improvement(best, tree.get(ORIGINAL_ID), goal) else None)

    def set_star(self, new: str | None) -> None:
        """★ on node `new` (None: on no node)."""
        if new == self.best_id:
            return
        if self.best_id in self.rows:
            self.update_cell(self.best_id, "best", "")
        self.best_id = new  # a row not shown yet (arriving, or folded) gets it when added
        if new in self.rows:
            self.update_cell(new, "best", Text("★", style="bold yellow"))
