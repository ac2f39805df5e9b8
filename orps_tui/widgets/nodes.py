"""Widgets for search nodes: the live table of the tree, the detail tabs of one node (shared
by the search and review screens), and a unified diff that wraps with its +/- markers."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.segment import Segment
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.binding import Binding
from textual.render import measure
from textual.strip import Strip
from textual.widgets import DataTable, Static, Tab, Tabs

from orps_tui._textual_compat import RowKey, TwoWayDict, default_cell_formatter
from search import scoring
from search.tree import ORIGINAL_ID, Node, SearchTree, node_name
from search.types import Evaluation

COLUMNS = [("best", " "), ("id", "node"), ("pass", "pass"), ("process", "proc"), ("outcome", "outc"),
           ("runtime", "runtime"), ("style", "style")]
"""The round is in the node id (`<round>-<index>`); the style comes last, so a narrow
terminal (80 columns) cuts the style, never the figures."""

LEGEND = ("★ best  ● kept in the beam (refined)  dim: pruned  ▸ folded round (f folds/unfolds)  ·  pass: "
          "tests passed  proc: critic's score 1-5 (~: none, outcome used)  outc: outcome score  runtime: the "
          "tests' time")
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
    return Text("…" if ev is None else f"{ev.passed}/{ev.total}",
                style="green" if node.all_passed else ("yellow" if ev and ev.passed else "red"))


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
    return ["", name_cell(node.id, depth), pass_text(node), process, f"{node.outcome_score:.2f}", runtime,
            Text((node.style or "").split(":")[0][:24])]  # a Text: DataTable reads a str as markup


_AWAY = Coordinate(-2, -2)
"""Where the cursor (or hover) is, as far as a row it is not on can tell."""


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
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        # DataTable keys every line's rendering on the table's update count, which any
        # cell update or new row changes: each node arriving re-rendered every visible
        # line (about 100 ms with 500 nodes). Lines are kept here per row instead, keyed
        # on what their look depends on: the row's own cells (a version bumped when one
        # changes), the column widths, the cursor and hover when on the row, the focus and
        # theme. A row moved by an insertion above it keeps its line; only the row index
        # its segments carry for mouse clicks is rewritten.
        if self.cursor_type != "row":
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row = self._row_locations.get(row_key)
        row = -1 if row is None else row
        on_row = (self.cursor_coordinate.row == row, self.hover_coordinate.row == row)
        key = (row_key, line_no, x1, x2, self.size.width, on_row, self.cursor_coordinate if on_row[0] else None,
               base_style, self.show_cursor, self._show_hover_cursor, self._pseudo_class_state,
               self._row_versions.get(row_key, 0), tuple(c.get_render_width(self) for c in self.columns.values()),
               self.app.theme)
        cached = self._lines_rendered.get(key)
        if cached is None:
            if len(self._lines_rendered) > 4000:  # bounded: a long search scrolls through many
                self._lines_rendered.clear()
            strip = super()._render_line(y, x1, x2, base_style)
            self._lines_rendered[key] = (row, strip)
            return strip
        rendered_at, strip = cached
        if rendered_at != row:
            meta = Style.from_meta({"row": row})
            strip = Strip([Segment(seg.text, seg.style + meta if seg.style else meta, seg.control) for seg in strip],
                          strip.cell_length)
            self._lines_rendered[key] = (row, strip)
        return strip

    def add_row(self, *cells, height: int | None = 1, key: str | None = None, label=None):
        self._row_versions[key] = self._row_versions.get(key, 0) + 1  # a row added again (unfolded)
        return super().add_row(*cells, height=height, key=key, label=label)

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        super().update_cell(row_key, column_key, value, update_width=update_width)
        key = row_key.value if hasattr(row_key, "value") else row_key
        self._row_versions[key] = self._row_versions.get(key, 0) + 1

    BINDINGS = [Binding("f", "toggle_round", "Fold round"),
                Binding("g", "scroll_home", "First node", show=False),
                Binding("G", "scroll_end", "Last node", show=False)]

    best_id: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._row_versions: dict = {}
        """Row key -> how many times its cells changed (part of its rendering's cache key)."""
        self._lines_rendered: dict = {}
        self.paths: dict[str, tuple] = {}
        """Node id -> its place in the tree (the ids' orders from the root down)."""
        self.marks: dict[str, tuple[bool, bool]] = {}
        """Node id -> (kept, pruned) as its name cell shows it."""
        self.nodes: dict[str, Node] = {}
        """Every node shown or folded away, by id."""
        self.folded: set[int] = set()
        """Rounds whose nodes the beam did not keep are folded into one summary row."""

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

    # -- rows in tree order ---------------------------------------------------------------------
    def _place(self, key: str) -> None:
        """Move row `key` (just added, last) to its place in tree order, shifting the rows
        after it: no sort of the whole table, and one redraw for the new node."""
        path = self._path_of(key)
        last = self._row_locations.get(key)
        index = sum(1 for other in self._row_locations if other.value != key and self._path_of(other.value) < path)
        if index == last:
            return
        locations = {}
        for other in self._row_locations:
            at = self._row_locations.get(other)
            locations[other] = index if other.value == key else at + (1 if at >= index else 0)
        self._row_locations = TwoWayDict(locations)
        self._update_count += 1
        self.refresh()

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
        if current in self.rows:
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
        for node in sorted(tree, key=lambda n: node_order(n.id)):  # parents before children
            self.upsert(node, place=False)
        self.mark_tree(tree)
        self.mark_best(tree, goal)
        self.sort_nodes()

    def mark_tree(self, tree: SearchTree) -> None:
        """● on every node that has children (the beam kept it), dim on the evaluated ones
        a later round passed over (pruned). Only rows whose marks change are updated."""
        parents = {n.parent for n in tree if n.parent}
        last_round = max((n.round for n in tree if n.id != ORIGINAL_ID), default=0)
        for node in tree:
            if node.id not in self.paths:
                continue
            kept = node.id in parents  # the original too, when the beam refined your code
            pruned = (not kept and node.id != ORIGINAL_ID and node.round < last_round
                      and node.evaluation is not None)
            if self.marks.get(node.id) == (kept, pruned):
                continue
            self.marks[node.id] = (kept, pruned)
            if node.id in self.rows:
                if not self._visible(node.id):  # a folded round's node that the beam passed over
                    self.remove_row(node.id)
                    self._show_summary(node.round)
                    continue
                cell = name_cell(node.id, len(self.paths[node.id]) - 1, kept, pruned)
                self.update_cell(node.id, "id", cell, update_width=cell.cell_len > self.columns["id"].content_width)
            elif self._visible(node.id):  # folded, and now kept: its children need it
                self.upsert(node)
                self._show_summary(node.round)

    # -- folding rounds -------------------------------------------------------------------------
    def _visible(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return (node is None or node.round not in self.folded or node_id == ORIGINAL_ID
                or self.marks.get(node_id, (False, False))[0])

    def _hidden(self, round_: int) -> list[str]:
        return sorted((i for i, n in self.nodes.items() if n.round == round_ and not self._visible(i)),
                      key=node_order)

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
        if key in self.rows:
            self.update_cell(key, "id", label, update_width=label.cell_len > self.columns["id"].content_width)
        else:
            self.add_row("", label, "", "", "", "", "", key=key)
            if place:
                self._place(key)

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
            if first in self.rows:
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
        from orps_tui.solving import is_improvement

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


def feedback_text(ev: Evaluation | None, notes: list[str]) -> Text:
    """Execution feedback: the verdict and figures, then one line per test (✓/✗) with the
    failure message under a failing test."""
    if ev is None:
        return Text("Not run yet.", style="dim")
    out = Text()
    out.append(f"{ev.verdict}", style="bold green" if ev.all_passed else "bold red")
    out.append(f"  {ev.passed}/{ev.total} tests pass")
    if ev.runtime_s is not None:
        out.append(f"  ·  test runtime {ev.runtime_s * 1000:.1f} ms")
    if ev.peak_rss_mb:
        out.append(f"  ·  peak {ev.peak_rss_mb:.0f} MB")
    if ev.isolation:
        out.append(f"\nisolation: {ev.isolation}", style="dim")
    if ev.message.strip():
        out.append("\n\n" + ev.message.strip()[:2000], style="red")
    out.append("\n")
    for test in ev.tests:
        ok = test.outcome == "passed"
        out.append("\n✓ " if ok else "\n✗ ", style="green" if ok else "bold red")
        out.append(test.id)
        if test.duration_s:
            out.append(f"  {test.duration_s * 1000:.1f} ms", style="dim")
        if not ok:
            out.append(f"  [{test.outcome}]", style="red")
            if test.message.strip():
                message = "\n".join("    " + line for line in test.message.strip()[:1500].splitlines())
                out.append("\n" + message, style="yellow")
    for note in notes:
        out.append(f"\nnote: {note}", style="dim italic")
    return out


class DiffText:
    """A unified diff, coloured, that wraps long lines without losing their marker: each
    continuation row repeats the line's `+`, `-` or ` `, so a wrapped added line still
    reads as added."""

    def __init__(self, patch: str):
        self.patch = patch

    def __str__(self) -> str:
        return self.patch

    @staticmethod
    def style_of(line: str) -> str:
        if line.startswith(("+++", "---")):
            return "bold"
        if line.startswith("+"):
            return "green"
        if line.startswith("-"):
            return "red"
        if line.startswith("@@"):
            return "cyan"
        return ""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((len(line) for line in self.patch.splitlines()), default=0)
        return Measurement(min(2, options.max_width), min(widest, options.max_width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(2, options.max_width)
        new_line = Segment.line()
        for line in self.patch.expandtabs(4).splitlines():
            style = console.get_style(self.style_of(line))
            if line[:1] in ("+", "-", " ") and not line.startswith(("+++", "---")):
                marker, body, room = line[0], line[1:], width - 1
            else:
                marker, body, room = "", line, width
            pieces = Text(body, no_wrap=False).wrap(console, room, overflow="fold") if body else [Text("")]
            for piece in pieces:
                if marker:
                    yield Segment(marker, style)
                yield Segment(piece.plain, style)
                yield new_line


class RenderOnce:
    """Wraps a renderable and keeps its rendered lines per width: Textual renders a
    Static's content more than once per update (its height for the layout, then its
    lines), and highlighting code each time cost most of a selection move."""

    def __init__(self, inner: RenderableType):
        self.inner = inner
        self._lines: dict[int, list[list[Segment]]] = {}

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.inner)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self._lines.get(options.max_width)
        if lines is None:  # rendered at its natural height; a given height is that one (or less)
            lines = self._lines[options.max_width] = console.render_lines(
                self.inner, options.update(height=None), pad=False, new_lines=False)
        new_line = Segment.line()
        for line in lines[:options.height]:
            yield from line
            yield new_line


MainRenderer = Callable[[Node | None], RenderableType]


class NodeDetail(Widget):
    """The selected node in tabs: a main tab (the search screen's Code, the review's Diff),
    then Feedback, Reasoning and Critique. Only the visible tab is rendered.

    A tab bar over one scroll pane, not Textual's `TabbedContent`: its content switcher and
    a pane per tab are three more screen-high widgets, each painted line by line whenever
    the screen is (a third of the first paint of the search and review screens, which runs
    as one event-loop stall; benchmarks/bench_tui_stall.py). The main tab's text and the
    other tabs' text are two widgets in the pane, one of them hidden, so switching back to
    the main tab finds its rendering kept."""

    DEFAULT_CSS = """
    NodeDetail > VerticalScroll { height: 1fr; }
    NodeDetail VerticalScroll > Static { min-height: 100%; }  /* see _put */
    NodeDetail #detail-tab { display: none; }
    """

    def __init__(self, *, main_label: str = "Code", main_id: str = "code",
                 render_main: MainRenderer | None = None, **kwargs):
        super().__init__(**kwargs)
        self.node: Node | None = None
        self.node_id: str | None = None
        self.main_label, self.main_id = main_label, main_id
        self.render_main = render_main or self.code_renderable
        self._code_cache: dict[tuple[str, str, int], RenderOnce] = {}
        self._fitting: set[str] = set()
        """Tabs whose shown content fits the pane (see `_put`)."""

    def compose(self) -> ComposeResult:
        yield Tabs(Tab(self.main_label, id=f"tab-{self.main_id}"), Tab("Feedback", id="tab-feedback"),
                   Tab("Reasoning", id="tab-reasoning"), Tab("Critique", id="tab-critique"))
        with VerticalScroll():
            yield Static(id=self.main_id)
            yield Static(id="detail-tab")

    @property
    def active(self) -> str:
        """The id of the tab shown (`tab-code`, `tab-feedback`, ...)."""
        return self.query_one(Tabs).active

    @active.setter
    def active(self, tab_id: str) -> None:
        self.query_one(Tabs).active = tab_id

    def show(self, node: Node | None) -> None:
        """Show `node` (None: nothing to show), rendering only the visible tab (the others
        render when opened): with hundreds of nodes, moving the selection must stay within a frame."""
        self.node = node
        self.node_id = node.id if node else None
        self._render_active()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        main = self.active == f"tab-{self.main_id}"
        main_text, tab_text = self.query_one(f"#{self.main_id}", Static), self.query_one("#detail-tab", Static)
        main_text.display, tab_text.display = main, not main
        self._fitting.discard("detail-tab")  # another tab's text: its height is new
        self.query_one(VerticalScroll).scroll_home(animate=False)
        self._render_active()

    def code_renderable(self, node: Node | None) -> RenderableType:
        if node is None:
            return Text("No node selected.", style="dim")
        theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
        key = (node.id, theme, hash(node.code))
        cached = self._code_cache.get(key)
        if cached is None:
            if len(self._code_cache) >= 512:  # a long search: keep memory bounded
                self._code_cache.clear()
            cached = self._code_cache[key] = RenderOnce(
                Syntax(node.code or "# (no code in this answer)", "python", line_numbers=True, theme=theme,
                       word_wrap=True))
        return cached

    def _put(self, static: Static, renderable: RenderableType) -> None:
        """Show `renderable` in a tab. A tab's content fills its pane at least (min-height
        100%), so while the old and the new content both fit the pane the widget keeps its
        size: only the pane is repainted, without a layout of the whole screen (which cost
        most of a selection move with hundreds of nodes)."""
        if not static.is_mounted:  # not yet in the screen: laid out when it is
            static.update(renderable)
            return
        width, room = static.content_size.width, static.parent.scrollable_content_region.height
        fits = False
        if width and room:
            console = self.app.console
            lines = console.render_lines(renderable, console.options.update(width=width, height=None), pad=False)
            fits = len(lines) < room  # a line to spare: Textual may wrap a little differently
        static.update(renderable, layout=not (fits and static.id in self._fitting))
        if fits:
            self._fitting.add(static.id)
        else:
            self._fitting.discard(static.id)

    def _render_active(self) -> None:
        node, active = self.node, self.active
        if active == f"tab-{self.main_id}":
            self._put(self.query_one(f"#{self.main_id}", Static), self.render_main(node))
            return
        tab = self.query_one("#detail-tab", Static)
        if node is None:
            self._put(tab, Text("No node selected.", style="dim"))
        elif active == "tab-feedback":
            self._put(tab, feedback_text(node.evaluation, node.notes))
        elif active == "tab-reasoning":
            self._put(tab, Text(node.reasoning or "(no reasoning)"))
        elif active == "tab-critique":
            if node.process_score is None:
                score = "no process score (the outcome score stood in)" if node.critic_fallback else "not critiqued"
            else:
                score = f"process score {node.process_score:.0f}/5"
            self._put(tab, Text(f"{score}\n\n{node.critique or '(no critique)'}"))
