"""The live search tree: each node under its parent, the beam's choice marked, a legend for
the columns, the plan's progress and what the search is doing now."""

from __future__ import annotations

import time

import pytest

from orps_tui.app import make_app
from orps_tui.screens.search import SearchScreen
from orps_tui.widgets.nodes import ID_COLUMN, LEGEND, NodeTable
from search.providers.scripted import register_script
from search.tree import Node, SearchTree
from tests.tui_support import TARGET, ProjectFake, make_project, respond, screen_text, settings, wait_for

SIZE = (160, 40)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def slow(messages, params):
    time.sleep(0.4)  # a model that takes its time: the status says the search waits for it
    return respond(messages, params)


async def test_status_says_what_the_search_waits_for_and_where_it_is(project):
    register_script("slow-calc", slow)
    app = make_app(
        project,
        target=TARGET,
        settings=settings(model="scripted/slow-calc", budget_calls=8),
        evaluator=ProjectFake(),
        headless_start=True,
    )
    app.auto_review = False
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        search = app.screen
        await wait_for(pilot, lambda: "waiting for the model, " in screen_text(app))
        text = screen_text(app)
        assert "round 0 (samples), then 1 refinement round(s)" in text or "round 1 of" in text
        assert "calls " in text and " of 8" in text  # calls used of the budget
        assert LEGEND[:40] in text
        await wait_for(pilot, lambda: search.result is not None)
        assert "waiting" not in screen_text(app).splitlines()[1]  # ended: the outcome, not an activity


async def test_tree_order_marks_and_dimming():
    from textual.app import App

    tree = SearchTree()
    for node_id, parent, rnd in [
        ("baseline", None, -1),
        ("0-0", None, 0),
        ("0-1", None, 0),
        ("0-2", None, 0),
        ("1-0", "0-2", 1),
        ("1-1", "0-0", 1),
        ("2-0", "1-1", 2),
    ]:
        tree.add(Node(id=node_id, parent=parent, round=rnd))
    for node in tree:
        from search.types import Evaluation

        node.evaluation = Evaluation("failed", 0, 1)

    class Holder(App):
        def compose(self):
            yield NodeTable()

    app = Holder()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.fill(tree)
        await pilot.pause()
        rows = [table.get_row_at(i)[1] for i in range(table.row_count)]
        assert [r.plain for r in rows] == ["original", "● 0-0", "└ ● 1-1", "  └ 2-0", "0-1", "● 0-2", "└ 1-0"]
        dim = [r.plain for r in rows if str(r.style) == "dim"]
        assert dim == ["0-1", "└ 1-0"]  # passed over by a later round; 2-0 is the last round's


def evaluated(node_id: str, parent: str | None, rnd: int, passed: int = 0) -> Node:
    from search.types import Evaluation

    node = Node(id=node_id, parent=parent, round=rnd)
    node.evaluation = Evaluation("passed" if passed else "failed", passed, 1)
    return node


def table_app():
    from textual.app import App

    class Holder(App):
        def compose(self):
            yield NodeTable()

    return Holder()


def names(table: NodeTable) -> list[str]:
    return [table.get_row_at(i)[1].plain for i in range(table.row_count)]


async def test_arriving_nodes_go_to_their_place_and_the_screen_shows_them_there():
    """Nodes arriving one at a time (no sort of the whole table) land under their parents,
    and the lines drawn on screen follow: a row moved down by an insertion above it is
    not drawn from a stale line."""
    tree = SearchTree()
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        for node in [
            evaluated("baseline", None, -1),
            evaluated("0-0", None, 0),
            evaluated("0-1", None, 0),
            evaluated("0-2", None, 0),
        ]:
            tree.add(node)
            table.upsert(node)
        await pilot.pause()
        assert names(table) == ["original", "0-0", "0-1", "0-2"]
        for node in [evaluated("1-0", "0-1", 1), evaluated("1-1", "0-0", 1)]:
            tree.add(node)
            table.upsert(node)
        table.mark_tree(tree)
        assert names(table) == ["original", "● 0-0", "└ 1-1", "● 0-1", "└ 1-0", "0-2"]
        # what is drawn: every row where the table has it (a stale line would never move)
        await wait_for(pilot, lambda: drawn_names(app) == ["original", "0-0", "1-1", "0-1", "1-0", "0-2"])


async def test_the_plan_sets_the_node_column_width_before_any_node_so_no_node_widens_it():
    """With the plan known, the node column is as wide as the deepest name the plan can
    reach from the start: no node arriving later (nor the beam's ● on it) widens it."""
    plan = {"strategy": "orps", "start": "user_code", "samples": 4, "beam": 2, "children_each": 6, "rounds": 2}
    tree = SearchTree()
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.reserve(plan)
        reserved = table.columns[ID_COLUMN].content_width
        assert reserved == len("    └ 2-11")  # round 2 under round 1 under round 0 under the original
        for node in [
            evaluated("baseline", None, -1),
            evaluated("0-3", "baseline", 0),
            evaluated("1-11", "0-3", 1),
            evaluated("2-11", "1-11", 2),
        ]:
            tree.add(node)
            table.upsert(node)
        table.mark_tree(tree)
        await pilot.pause()
        assert names(table)[-1] == "    └ 2-11" and "  └ ● 1-11" in names(table)
        assert table.columns[ID_COLUMN].content_width == reserved


async def test_without_a_plan_the_node_column_grows_with_the_nodes():
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.reserve({"strategy": "reflexion", "limit": 8})  # no rounds to reserve for
        table.upsert(evaluated("0-0", None, 0))
        await pilot.pause()
        assert table.columns[ID_COLUMN].content_width == len("node")
        table.upsert(evaluated("1-0", "0-0", 1))
        await pilot.pause()
        assert table.columns[ID_COLUMN].content_width == len("└ 1-0")


def drawn_names(app) -> list[str]:
    found = []
    for line in screen_text(app).splitlines():
        words = line.replace("●", " ").replace("└", " ").split()
        found += [w for w in words if w == "original" or w[:2] in ("0-", "1-")]
    return found


async def test_a_round_folds_into_one_row_and_unfolds():
    tree = SearchTree()
    for node in [
        evaluated("baseline", None, -1),
        evaluated("0-0", None, 0),
        evaluated("0-1", None, 0, passed=1),
        evaluated("0-2", None, 0),
        evaluated("1-0", "0-2", 1),
        evaluated("1-1", "0-2", 1),
    ]:
        tree.add(node)
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.fill(tree)
        table.focus()
        table.move_cursor(row=names(table).index("0-1"))
        await pilot.press("f")
        await wait_for(pilot, lambda: "round-0" in table.rows)
        # the kept node stays (its children hang under it); the two others become one row
        assert names(table) == ["original", "▸ round 0: 2 folded", "● 0-2", "└ 1-0", "└ 1-1"]
        assert table.current_id() == "round-0"
        late = evaluated("0-3", None, 0)  # a node of the folded round arriving: counted in its row
        tree.add(late)
        table.upsert(late)
        assert "round 0: 3 folded" in names(table)[1] and "0-3" not in table.rows
        child = evaluated("1-2", "0-3", 1)  # now the beam kept 0-3: it comes back, with its child
        tree.add(child)
        table.upsert(child)
        table.mark_tree(tree)
        assert names(table) == ["original", "▸ round 0: 2 folded", "● 0-2", "└ 1-0", "└ 1-1", "● 0-3", "└ 1-2"]
        await pilot.press("f")
        await wait_for(pilot, lambda: "round-0" not in table.rows)
        assert names(table) == ["original", "0-0", "0-1", "● 0-2", "└ 1-0", "└ 1-1", "● 0-3", "└ 1-2"]
        assert table.current_id() == "0-0"


class Terminal:
    """The characters a terminal shows, from the updates Textual sends it: a whole region
    (a layout) or spans of lines (a partial paint)."""

    def __init__(self, width: int, height: int):
        self.cells = [[" "] * width for _ in range(height)]

    def write(self, y: int, x: int, text: str, x1: int = 0, x2: int = 10**6) -> None:
        row = self.cells[y]
        for ch in text:
            if x1 <= x < min(x2, len(row)):
                row[x] = ch
            x += 1

    def apply(self, update) -> None:
        from textual._compositor import ChopsUpdate, LayoutUpdate

        if isinstance(update, LayoutUpdate):
            for y, line in enumerate(update.strips, update.region.y):
                x = update.region.x
                for strip in line:
                    self.write(y, x, strip.text)
                    x += strip.cell_length
        elif isinstance(update, ChopsUpdate):
            for y, x1, x2 in update.spans:
                for x, strip in update.chops[y].items():
                    if strip is not None:
                        self.write(y, x, strip.text, x1, x2)

    def text(self) -> str:
        return "\n".join("".join(row).rstrip() for row in self.cells)


async def test_a_node_arriving_in_a_long_table_leaves_nothing_stale_on_the_terminal(monkeypatch):
    """With the scrollbar shown, a row added to the tree repaints only the rows from it down
    (no layout of the screen): the terminal, as the updates sent to it leave it, shows what
    the screen holds, and that is every row where the table has it, rows moved down by the
    insertion included (a line left unpainted would show the row that was there before)."""
    from textual._compositor import Compositor

    terminal = Terminal(*SIZE)
    render_update = Compositor.render_update

    def record(self, *args, **kwargs):
        update = render_update(self, *args, **kwargs)
        if update is not None:
            terminal.apply(update)
        return update

    monkeypatch.setattr(Compositor, "render_update", record)
    tree = SearchTree()
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        for node in [evaluated("baseline", None, -1)] + [evaluated(f"0-{i}", None, 0) for i in range(50)]:
            tree.add(node)
            table.upsert(node)
        await wait_for(pilot, lambda: table.show_vertical_scrollbar and terminal.text() == screen_text(app))
        for node in [evaluated("1-0", "0-2", 1), evaluated("1-1", "0-0", 1), evaluated("0-50", None, 0)]:
            tree.add(node)
            table.upsert(node)  # no marks: they would repaint the rows they change
            await wait_for(pilot, lambda: node.id in table.rows and terminal.text() == screen_text(app))
        assert drawn_names(app)[:7] == ["original", "0-0", "1-1", "0-1", "0-2", "1-0", "0-3"]


def cells_drawn(lines) -> list[tuple[str, object]]:
    """Each character a cell's rendering draws, with its style (however it is split into segments)."""
    return [(ch, seg.style) for line in lines for seg in line for ch in seg.text]


async def test_cells_are_drawn_as_datatable_draws_them():
    """The table makes its cells' segments directly, not through Rich's renderables: every
    cell (marks, ★, pass counts, dim pruned names, the cursor's and hover's styles, the row
    and column the mouse reads) comes out as DataTable's own rendering makes it."""
    from textual.coordinate import Coordinate
    from textual.widgets import DataTable

    tree = SearchTree()
    for node in [
        evaluated("baseline", None, -1),
        evaluated("0-0", None, 0),
        evaluated("0-1", None, 0, passed=1),
        evaluated("1-0", "0-1", 1),
    ]:
        tree.add(node)
    tree.get("0-1").style = "[bold]not markup[/bold]"
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.fill(tree)
        table.focus()
        await pilot.pause()
        style = table.rich_style
        compared = 0
        for row in range(table.row_count):
            for column, col in enumerate(table.ordered_columns):
                for cursor, hover in [(False, False), (True, False), (False, True)]:
                    width = col.get_render_width(table)
                    value = table._data[table._row_locations.get_key(row)][col.key]
                    ours = table._render_one_line_cell(value, row, column, style, width, cursor, hover)
                    assert ours is not None
                    table._update_count += 1  # nothing cached in DataTable's own
                    theirs = DataTable._render_cell(table, row, column, style, width, cursor, hover)
                    assert cells_drawn(ours) == cells_drawn(theirs), (row, column, cursor, hover)
                    compared += 1
        assert compared == table.row_count * 7 * 3
        for row in range(table.row_count):  # and whole lines, with the cursor on, next to or off the row
            key = table._row_locations.get_key(row)
            for cursor in [Coordinate(row, 0), Coordinate(row + 1, 0), Coordinate(-2, -2)]:
                for hover in [Coordinate(row, 0), Coordinate(-2, -2)]:
                    ours = table._render_line_in_row(key, 0, style, cursor, hover)
                    table._update_count += 1
                    theirs = DataTable._render_line_in_row(table, key, 0, style, cursor, hover)
                    assert ours[0] == theirs[0] == []
                    assert cells_drawn(ours[1]) == cells_drawn(theirs[1]), (row, cursor, hover)


async def test_a_click_selects_the_row_under_the_pointer_after_rows_were_inserted_above_it():
    """Lines kept from before a node was placed above them name the row they were; the
    click goes to the row under the pointer."""
    tree = SearchTree()
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        for node in [evaluated("baseline", None, -1)] + [evaluated(f"0-{i}", None, 0) for i in range(6)]:
            tree.add(node)
            table.upsert(node)
        await pilot.pause()
        for node in [evaluated("1-0", "0-0", 1), evaluated("1-1", "0-0", 1)]:
            tree.add(node)
            table.upsert(node)  # two rows in under 0-0: 0-1 and below move down two
        await pilot.pause()
        assert names(table)[4] == "0-1"  # drawn as row 2 before
        await pilot.click(NodeTable, offset=(4, 1 + 4))  # the header, then row 4
        assert table.current_id() == "0-1"


async def test_nodes_arriving_within_a_frame_are_shown_together_by_one_flush():
    """A batch of samples finishing together: the nodes wait for the next frame and are
    placed, starred and painted together, parents before children whatever their order."""
    tree = SearchTree()
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        flushes = []
        flush = table.flush
        table.flush = lambda: (flushes.append(table.row_count), flush())  # type: ignore[method-assign]
        for node in [
            evaluated("1-0", "0-1", 1),
            evaluated("baseline", None, -1),
            evaluated("0-0", None, 0),
            evaluated("0-1", None, 0, passed=1),
        ]:
            tree.add(node)
            table.show_later(node, tree)
        assert table.row_count == 0  # not yet: within the frame
        await wait_for(pilot, lambda: table.row_count == 4)
        assert flushes == [0]  # one flush, for all four
        assert names(table) == ["original", "0-0", "0-1", "└ 1-0"]
        assert table.best_id == "0-1"
        late = evaluated("0-2", None, 0)
        tree.add(late)
        table.show_later(late, tree)
        table.mark_tree(tree)  # the round ended: what waits is shown first, then marked
        assert names(table) == ["original", "0-0", "● 0-1", "└ 1-0", "0-2"]


async def test_a_folded_rounds_first_node_kept_later_goes_above_the_row_of_the_others():
    """The beam keeps the first node of a folded round: it comes back where it was, with its
    child under it, and the round's row moves down to the first node still folded (rows
    stay in tree order, which the placing of later nodes relies on)."""
    tree = SearchTree()
    for node in [evaluated("baseline", None, -1), evaluated("0-0", None, 0), evaluated("0-1", None, 0)]:
        tree.add(node)
    app = table_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodeTable)
        table.fill(tree)
        table.toggle_round(0)
        await pilot.pause()
        assert names(table) == ["original", "▸ round 0: 2 folded"]
        child = evaluated("1-0", "0-0", 1)
        tree.add(child)
        table.upsert(child)
        table.mark_tree(tree)
        assert names(table) == ["original", "● 0-0", "└ 1-0", "▸ round 0: 1 folded"]
        late = evaluated("0-2", None, 0)  # placed among rows in order: after the round's row
        tree.add(late)
        table.upsert(late)
        assert names(table) == ["original", "● 0-0", "└ 1-0", "▸ round 0: 2 folded"]
