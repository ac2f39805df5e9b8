"""One node's detail tabs (shared by the search and review screens), its execution
feedback, and a unified diff that wraps with its +/- markers."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static, Tab, Tabs

from search.tree import Node
from search.types import Evaluation


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
                self.inner, options.update(height=None), pad=False, new_lines=False
            )
        new_line = Segment.line()
        for line in lines[: options.height]:
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

    def __init__(
        self, *, main_label: str = "Code", main_id: str = "code", render_main: MainRenderer | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.node: Node | None = None
        self.node_id: str | None = None
        self.main_label, self.main_id = main_label, main_id
        self.render_main = render_main or self.code_renderable
        self._code_cache: dict[tuple[str, str, int], RenderOnce] = {}
        self._fitting: set[str] = set()
        """Tabs whose shown content fits the pane (see `_put`)."""

    def compose(self) -> ComposeResult:
        yield Tabs(
            Tab(self.main_label, id=f"tab-{self.main_id}"),
            Tab("Feedback", id="tab-feedback"),
            Tab("Reasoning", id="tab-reasoning"),
            Tab("Critique", id="tab-critique"),
        )
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
                Syntax(
                    node.code or "# (no code in this answer)", "python", line_numbers=True, theme=theme, word_wrap=True
                )
            )
        return cached

    def _put(self, static: Static, renderable: RenderableType) -> None:
        """Show `renderable` in a tab. A tab's content fills its pane at least (min-height
        100%), so while the old and the new content both fit the pane the widget keeps its
        size: only the pane is repainted, without a layout of the whole screen (which cost
        most of a selection move with hundreds of nodes)."""
        if not static.is_mounted:  # not yet in the screen: laid out when it is
            static.update(renderable)
            return
        pane = static.parent
        assert isinstance(pane, Widget)  # mounted: its parent is the scrolling pane
        width, room = static.content_size.width, pane.scrollable_content_region.height
        fits = False
        if width and room:
            console = self.app.console
            lines = console.render_lines(renderable, console.options.update(width=width, height=None), pad=False)
            fits = len(lines) < room  # a line to spare: Textual may wrap a little differently
        static.update(renderable, layout=not (fits and static.id in self._fitting))
        if fits and static.id:
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
