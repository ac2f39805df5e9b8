# Over 400 lines: one screen whose keys (accept, undo, edit, compare, the file watch) all act on one shared review state.
"""Review: the proposal's patch as a coloured diff beside the same Feedback / Reasoning /
Critique tabs as the search screen, any other node's diff, a side by side comparison, and
accept (through the same safe apply as `orps apply`), edit, reject. Esc goes back to the
screen below (the search's tree, or the history); `s` shows the search tree.

The review opens on the best candidate when it beats the original, else on the original
(a cancelled or unsolved search proposes nothing, and no candidate gets the ★).

While the review is open the target file and its test files are watched: when one
changes on disk the proposal is marked stale and the shown candidate is re-checked
against the tests as they are now (accepting a stale patch is refused by the apply check
anyway when the target itself changed).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from orps_tui.failures import SaysWhy
from orps_tui.result_doc import is_improvement
from orps_tui.screens.editor import syntax_message, syntax_problem
from orps_tui.screens.first_paint import QuickFirstPaint
from orps_tui.solving import SolveJob
from orps_tui.widgets.footer import Footer
from orps_tui.widgets.header import TitleBar
from orps_tui.widgets.node_detail import DiffText, NodeDetail
from runners.code.proposal import node_patch, node_signature_change
from runners.target import Target
from search import scoring
from search.tree import ORIGINAL_ID, Node, SearchTree, node_name


def node_label(node: Node, best_id: str | None) -> Text:
    ev = node.evaluation
    mark = "★ " if node.id == best_id else ("✎ " if node.style == EDITED else "  ")
    passed = f"{ev.passed}/{ev.total}" if ev else "-"
    runtime = f" {ev.runtime_s * 1000:.1f}ms" if ev and ev.runtime_s is not None else ""
    style = "green" if node.all_passed else ("yellow" if ev and ev.passed else "red")
    return Text.assemble(mark, (f"{node_name(node.id):<9}", "bold"), (f"{passed:>6}", style), runtime)


def coloured_diff(patch: str) -> Text:
    """A unified diff with added lines green, removed lines red, hunks cyan (as one Text;
    on screen `DiffText` draws it, which keeps the +/- marker on wrapped lines)."""
    out = Text()
    for line in patch.splitlines():
        out.append(line + "\n", style=DiffText.style_of(line))
    return out


def caught_text(node: Node) -> Text:
    """Why a node that cheated is not counted (suspicious or tampered), above its diff."""
    ev = node.evaluation
    if ev is None or ev.verdict not in ("suspicious", "tampered"):
        return Text()
    return Text(f"{ev.verdict.upper()}: {ev.message.strip()[:500]}\n\n", style="bold magenta")


def confirmation_text(confirmation: dict | None) -> Text:
    """Which confirmation a candidate got (runners.testing.confirm), one line above its diff."""
    if not confirmation:
        return Text()
    style = {"confirmed": "bold green", "failed": "bold red"}.get(str(confirmation.get("status")), "bold yellow")
    return Text(f"CONFIRMATION {confirmation.get('line', confirmation.get('status', ''))[:300]}\n\n", style=style)


def signature_text(change: dict[str, str] | None) -> Text:
    """A candidate that changes the function's interface says so above its diff."""
    if not change:
        return Text()
    return Text.assemble(
        ("INTERFACE CHANGE: this candidate changes the signature\n", "bold yellow"),
        ("  before: ", "dim"),
        (change["before"], "red"),
        "\n",
        ("  after:  ", "dim"),
        (change["after"], "green"),
        "\n\n",
    )


EDITED = "edited by you"
"""The style of a node written in the TUI's editor."""


class ReviewScreen(SaysWhy, QuickFirstPaint):
    BINDINGS = [  # the footer shows what fits in 80 columns; all are in the palette (ctrl+p)
        Binding("a", "accept", "Accept"),
        Binding("u", "undo", "Undo apply", show=False),
        Binding("r", "reject", "Reject"),
        Binding("e", "edit", "Edit"),
        Binding("E", "edit_external", "$EDITOR", show=False),
        Binding("x", "discard_edit", "Discard edit", show=False),
        Binding("d", "compare", "Compare"),
        Binding("m", "mark", "Mark", show=False),
        Binding("n", "next_node", "Next", show=False),
        Binding("p", "prev_node", "Prev", show=False),
        Binding("s", "search_tree", "Search tree", show=False),
        Binding("escape", "back", "Back"),
        Binding("h", "app.history", "History", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, job: SolveJob, tree: SearchTree, best: Node | None, original: Node | None, status: str):
        super().__init__()
        self.job, self.search_tree, self.best, self.original, self.status = job, tree, best, original, status
        self.proposed = best is not None and is_improvement(best, original, job.settings.goal)
        """Whether the best candidate beats the original: only then is it starred and shown first."""
        self.selected: Node | None = best if self.proposed or original is None else original
        self.marked: Node | None = None
        self.applied = False
        """The project's files hold this run's proposal (or its applied node): read from the
        files when the review opens and whenever they change, never remembered."""
        meta = job.run.meta()
        self.applied_backup: str | None = meta.get("applied_backup") or None
        """The backup of the apply made from this run in the TUI, which `u` restores."""
        self.stale = False
        self.rechecks = 0
        self.watcher = None
        self.edits = 0
        """Edits saved in this review (each kept for the function: `orps_tui.edits`)."""
        self.kept: set[str] = set()
        """Ids of the shown edits that are kept for the function (not applied or discarded yet)."""

    @property
    def target_path(self) -> str:
        return Target.path_of(self.job.task.target)

    def compose(self) -> ComposeResult:
        yield TitleBar(f"review {self.job.task.target}  (run {self.job.run.id})")
        yield Static(id="review-summary", classes="status")
        with Horizontal(id="review-body"):
            yield OptionList(id="node-list")
            yield NodeDetail(main_label="Diff", main_id="diff", render_main=self.diff_renderable, id="review-detail")
        yield Footer()

    def on_mount(self) -> None:
        self._add_kept_edits()
        try:
            self._fill_list()
            self._show(self.selected)
        except NoMatches:
            return  # mounted while the app shuts down (a search ending as you quit)
        self.query_one("#node-list", OptionList).focus()
        self._read_applied()
        self._start_watch()

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    def _add_kept_edits(self) -> None:
        """Edits of this function kept from earlier (in this run or another): listed with
        the verdict they had when saved, marked ✎, until applied or discarded."""
        from orps_tui.edits import kept_edits

        try:
            kept = kept_edits(self.job.project, self.job.task.target)
        except OSError as err:
            self.notify(f"Could not read the kept edits: {err}", severity="warning")
            return
        for node in kept:
            stored = self.search_tree.get(node.id)
            if stored is None or stored.style == EDITED:
                if self.search_tree.get(node.parent or "") is None:
                    node.parent = ORIGINAL_ID if self.search_tree.get(ORIGINAL_ID) else None
                self.search_tree.add(node)
                self.kept.add(node.id)

    # -- the node list and the diff --------------------------------------------------------
    def _ordered(self) -> list[Node]:
        nodes = [n for n in self.search_tree if n.evaluation is not None and n.id != ORIGINAL_ID]
        key = scoring.faster_key if self.job.task.goal == "faster" else scoring.final_key
        ordered = sorted(nodes, key=key, reverse=True)
        return ordered + ([self.original] if self.original else [])

    def _fill_list(self) -> None:
        options = self.query_one("#node-list", OptionList)
        options.clear_options()
        best_id = self.best.id if self.best and self.proposed else None
        ordered = self._ordered()
        options.add_options([Option(node_label(node, best_id), id=node.id) for node in ordered])
        if self.selected is not None and self.selected.id in {n.id for n in ordered}:
            options.highlighted = options.get_option_index(self.selected.id)

    def patch_for(self, node: Node | None) -> str:
        return node_patch(self.job.task, self.job.original_file, node)

    def _summary(self) -> Text:
        parts = [f"search {self.status.replace('_', ' ')}"]  # no_improvement: "no improvement"
        if self.best and self.best.evaluation:
            ev = self.best.evaluation
            parts.append(
                f"best {self.best.id}: {ev.passed}/{ev.total} tests"
                if self.proposed
                else "no candidate beats the original"
            )
            confirmation = self.job.confirmations.get(self.best.id)
            if confirmation and self.proposed:
                parts.append(str(confirmation.get("status")))
        if self.original and self.original.evaluation:
            parts.append(f"original: {self.original.evaluation.passed}/{self.original.evaluation.total} tests")
        if self.selected is not None:
            parts.append(f"showing {node_name(self.selected.id)}")
        if self.marked is not None:
            parts.append(f"marked {node_name(self.marked.id)}")
        if self.applied:
            parts.append("APPLIED")
        if self.stale:
            parts.append("STALE: files changed on disk")
        return Text("  ·  ".join(parts), style="bold red" if self.stale else "")

    def diff_renderable(self, node: Node | None) -> RenderableType:
        """The Diff tab: what accepting `node` would change in the user's file."""
        if node is None:
            return Text("The search produced no candidate to review.")
        if node.id == ORIGINAL_ID:
            why = "" if self.proposed else "No candidate beats it, so there is nothing to propose. "
            return Text(f"The original code of {self.job.task.target}. {why}Nothing to apply.\n\n{node.code}")
        patch = self.patch_for(node)
        if not patch:
            return Text(f"Node {node.id} changes nothing in {self.target_path} (or its code cannot be put in place).")
        change = node_signature_change(self.job.task, self.job.original_file, node)
        above = caught_text(node) + confirmation_text(self.job.confirmations.get(node.id)) + signature_text(change)
        return Group(above, DiffText(patch)) if above.plain else DiffText(patch)

    def _show(self, node: Node | None) -> None:
        self.selected = node
        self.query_one(NodeDetail).show(node)
        self.query_one("#review-summary", Static).update(self._summary())

    @on(OptionList.OptionHighlighted, "#node-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        node = self.search_tree.get(event.option.id or "")
        if node is not None and node is not self.selected:
            self._show(node)

    def _move(self, step: int) -> None:
        options = self.query_one("#node-list", OptionList)
        if options.option_count:
            options.highlighted = ((options.highlighted or 0) + step) % options.option_count

    def action_next_node(self) -> None:
        self._move(1)

    def action_prev_node(self) -> None:
        self._move(-1)

    # -- navigation -------------------------------------------------------------------------
    def action_back(self) -> None:
        """Back to the screen below: the search's tree after a search, the history or the
        start screen otherwise."""
        if len(self.app.screen_stack) > 2:  # never down to Textual's blank default screen
            self.app.pop_screen()

    def action_search_tree(self) -> None:
        """The search screen of this run: the live one below, or the stored tree read-only."""
        from orps_tui.screens.search import SearchScreen

        stack = self.app.screen_stack
        below = stack[-2] if len(stack) > 1 else None
        if isinstance(below, SearchScreen) and below.job.run.id == self.job.run.id:
            self.app.pop_screen()
        else:
            proposed = self.best.id if self.best and self.proposed else None
            self.app.push_screen(SearchScreen(self.job, finished=(self.search_tree, self.status, proposed)))

    # -- applied, read from the files -----------------------------------------------------------
    @work(thread=True, exclusive=True, group="applied", exit_on_error=False)
    def _read_applied(self) -> None:
        from orps_tui.applied import run_applied

        applied = run_applied(self.job.project, self.job.run)
        as_searched = self._as_searched()
        self.app.call_from_thread(self._opened_state, applied, as_searched)

    def _opened_state(self, applied: bool, as_searched: bool) -> None:
        """What the files say as the review opens: applied, or changed since the search (a
        stale proposal is said at once, not only when `a` is refused)."""
        self._set_applied(applied)
        if not applied and not as_searched and not self.stale:
            self.stale = True
            self.notify(
                f"{self.target_path} changed since this search: the proposal is stale "
                "(accepting it will be refused if its lines changed).",
                severity="warning",
                timeout=8,
            )
            if self.is_attached:
                self.query_one("#review-summary", Static).update(self._summary())

    def _set_applied(self, applied: bool) -> None:
        self.applied = applied
        if applied or self._as_searched():
            self.stale = False  # applied, or back to what the search saw (an undo)
        if self.is_attached:
            self.query_one("#review-summary", Static).update(self._summary())

    def _as_searched(self) -> bool:
        """The target file holds what the search saw. (A run that kept no copy of it, or
        searched a new file, cannot tell: not flagged.)"""
        if not self.job.original_file:
            return True
        try:
            return (self.job.project / self.target_path).read_bytes().decode("utf-8") == self.job.original_file
        except (OSError, UnicodeDecodeError):
            return False

    # -- accept / reject ----------------------------------------------------------------------
    def action_accept(self) -> None:
        from orps_tui.screens.dialogs import ConfirmScreen

        node = self.selected
        patch = self.patch_for(node)
        if node is None or not patch:
            self.notify("Nothing to apply for this node.", severity="warning")
            return
        if self.applied:
            self.notify(
                "A patch from this run is already applied (undo: u, or orps apply --revert).", severity="warning"
            )
            return
        warnings = []
        if not is_improvement(node, self.original, self.job.settings.goal):
            warnings.append("This node does not beat the original code.")
        if self.stale:
            warnings.append("Files changed on disk since the search: this proposal is stale.")
        question = Text("\n").join(
            [
                Text(f"Apply {node.id}'s patch to {self.target_path}?"),
                *(Text(w, style="bold") for w in warnings),
                Text("A backup is kept (undo: u here, or orps apply --revert)."),
            ]
        )
        self.app.push_screen(ConfirmScreen(question), lambda yes: self._apply(node, patch) if yes else None)

    def _apply(self, node: Node, patch: str) -> None:
        from orps_tui.screens.dialogs import MessageScreen
        from runners.code.patch import PatchError, apply_patch

        try:
            result = apply_patch(self.job.project, patch)
        except PatchError as err:
            self.app.push_screen(MessageScreen("Not applied", str(err)))
            return
        except OSError as err:
            self.app.push_screen(MessageScreen("Not applied", f"{type(err).__name__}: {err}"))
            return
        self.applied, self.stale, self.applied_backup = True, False, str(result.backup)
        if node.id in self.kept:  # applied: no longer kept aside
            self._drop_kept(node)
        try:  # which node went in and its backup: what `u` undoes, here or in a later review
            self.job.run.update_meta(applied=node.id, applied_backup=str(result.backup))
        except OSError as err:
            self.notify(f"Applied, but the run could not record it: {err}", severity="warning")
        try:
            backup: Path | str = Path(result.backup).relative_to(self.job.project)
        except ValueError:
            backup = result.backup
        self.query_one("#review-summary", Static).update(self._summary())
        # a notification, not a modal: `q` right after `y` quits at once
        self.notify(
            f"{node.id} is now in {', '.join(result.files)}: +{result.added} -{result.removed} lines.\n"
            f"Backup: {backup}\nUndo with: u (or orps apply --revert)",
            title="Applied",
            timeout=15,
        )

    def action_undo(self) -> None:
        """Undo the apply made from this run in the TUI: its backup is restored, with the
        same check as `orps apply --revert` (refused when the file changed since the apply)."""
        from orps_tui.screens.dialogs import MessageScreen
        from runners.code.patch import PatchError, revert

        if not self.applied_backup:
            self.notify(
                "Nothing was applied from this run in the TUI, so there is nothing to undo here "
                "(orps apply --revert undoes the project's last apply).",
                severity="warning",
            )
            return
        try:
            result = revert(self.job.project, Path(self.applied_backup))
        except PatchError as err:
            self.app.push_screen(MessageScreen("Not undone", str(err)))
            return
        except OSError as err:
            self.app.push_screen(MessageScreen("Not undone", f"{type(err).__name__}: {err}"))
            return
        self.applied_backup = None
        try:
            self.job.run.update_meta(applied=None, applied_backup=None)
        except OSError:
            pass  # the files say what is applied; the record only named the backup
        self._set_applied(False)
        self.notify(
            f"{', '.join(result.files)} restored from the backup: +{result.added} -{result.removed} lines.",
            title="Undone",
            timeout=10,
        )

    def action_reject(self) -> None:
        self.job.run.update_meta(rejected=True)
        self.notify("Rejected: your project was not touched.", title="Rejected")
        from orps_tui.screens.start import StartScreen

        while len(self.app.screen_stack) > 2 and not isinstance(self.app.screen_stack[-2], StartScreen):
            self.app.pop_screen()
        self.app.pop_screen()

    # -- compare --------------------------------------------------------------------------------
    def action_mark(self) -> None:
        """Mark the shown node as the left side of the next comparison."""
        self.marked = self.selected
        self.query_one("#review-summary", Static).update(self._summary())

    def action_compare(self) -> None:
        from orps_tui.screens.dialogs import CompareScreen

        right = self.selected
        left = self.marked if self.marked not in (None, right) else (self.original if right is self.best else self.best)
        if left is None or right is None:
            self.notify("Nothing to compare with.", severity="warning")
            return
        self.app.push_screen(CompareScreen(left, right))

    # -- edit -----------------------------------------------------------------------------------
    def action_edit(self) -> None:
        """Edit the shown candidate in the TUI's editor pane; saving re-checks it."""
        from orps_tui.screens.editor import EditorScreen

        node = self.selected
        if node is None:
            return
        name = "the original" if node.id == ORIGINAL_ID else node.id
        self.app.push_screen(
            EditorScreen(
                node.code, f"edit {name} of {self.job.task.target}", check=lambda code: self.refusal(node, code)
            ),
            lambda code: self._edited(node, code),
        )

    def refusal(self, node: Node, code: str) -> tuple[int, str] | None:
        """Why the edited code cannot be kept as written (the def line), or None."""
        from orps_tui.edits import edit_refusal

        return edit_refusal(self.job.task, self.job.original_file, node, code)

    def _edited(self, node: Node, code: str | None) -> None:
        if code is None:
            return
        if code.strip() == node.code.strip():
            self.notify("No changes made in the editor.")
            return
        self.recheck(node, code)

    def action_edit_external(self) -> None:
        """Edit the shown candidate in $VISUAL/$EDITOR (the TUI is suspended meanwhile)."""
        node = self.selected
        if node is None:
            return
        try:
            code = self.app.edit_text(node.code, node.id)  # type: ignore[attr-defined]  # OrpsApp's, or a test app's
        except Exception as err:  # noqa: BLE001 - no terminal to suspend, or no editor
            self.notify(f"Could not run the editor: {err}", severity="error")
            return
        if code.strip() == node.code.strip():
            self.notify("No changes made in the editor.")
            return
        problem = syntax_problem(code)
        if problem is not None:
            self.notify(f"{syntax_message(problem)}. Your edit was not checked.", title="Not checked", severity="error")
            return
        refusal = self.refusal(node, code)
        if refusal is not None:
            self.notify(f"{refusal[1]} (line {refusal[0]})", title="Not checked", severity="error", timeout=15)
            return
        self.recheck(node, code)

    @work(exclusive=True, group="recheck", exit_on_error=False)
    async def recheck(self, parent: Node, code: str) -> None:
        """Evaluate the edited code as a new node `edit-N` (numbered after every edit of
        this function, kept or in this run), show it, and keep it for the function."""
        import asyncio

        from orps_tui.edits import keep_edit, reserve_edit_id

        self.edits += 1
        edit_id = await asyncio.to_thread(reserve_edit_id, self.job.project, self.job.task.target, self.search_tree)
        node = Node(id=edit_id, parent=parent.id, round=parent.round, style=EDITED, code=code)
        self.notify(f"Re-checking your edit of {parent.id}...")
        node.evaluation = await self.job.evaluator.evaluate(self.job.task, code)
        node.outcome_score = scoring.outcome_score(node.evaluation, self.job.task.goal == "faster")
        node.status = "evaluated"
        self.search_tree.add(node)
        self.job.run.write("tree.json", self.search_tree.to_dict())
        await asyncio.to_thread(keep_edit, self.job.project, self.job.task.target, node, self.job.run.id)
        self.kept.add(node.id)
        self.selected = node
        self._fill_list()
        self._show(node)
        ev = node.evaluation
        self.notify(
            f"Your edit: {ev.verdict}, {ev.passed}/{ev.total} tests pass. Kept as {node.id} until "
            "applied (a) or discarded (x)."
        )

    def action_discard_edit(self) -> None:
        """Stop keeping the shown edit (it leaves the list)."""
        node = self.selected
        if node is None or node.id not in self.kept:
            self.notify("The shown node is not a kept edit (x discards one: they are marked ✎).", severity="warning")
            return
        self._drop_kept(node)
        self.search_tree.nodes.pop(node.id, None)
        try:
            self.job.run.write("tree.json", self.search_tree.to_dict())
        except OSError:
            pass  # the run keeps it; the function no longer does
        self.selected = self.best if self.proposed or self.original is None else self.original
        self._fill_list()
        self._show(self.selected)
        self.notify(f"Discarded your edit {node.id}.", title="Discarded")

    def _drop_kept(self, node: Node) -> None:
        from orps_tui.edits import drop_edit

        try:
            drop_edit(self.job.project, self.job.task.target, node.id)
        except OSError as err:
            self.notify(f"Could not update the kept edits: {err}", severity="warning")
            return
        self.kept.discard(node.id)

    # -- watch ------------------------------------------------------------------------------------
    def watched_files(self) -> list[Path]:
        from orps_tui.taskbuild import watched_files

        return watched_files(self.job.project, self.job.task)

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def _start_watch(self) -> None:
        """Watch the target and its tests; in a thread, as importing watchdog and starting
        its observer take a while (`self.watcher` is set once it is watching)."""
        from runners.code.watch import FileWatcher

        files = self.watched_files()
        if not files:
            return
        try:
            watcher = FileWatcher(files, lambda changed: self.app.call_from_thread(self.files_changed, changed))
            watcher.start()
        except Exception as err:  # noqa: BLE001 - no inotify (limits): the review still works
            self.app.call_from_thread(self.notify, f"Not watching files for changes: {err}", severity="warning")
            return
        self.app.call_from_thread(self._watching, watcher)

    def _watching(self, watcher) -> None:
        if self.is_attached and self.watcher is None:
            self.watcher = watcher
        else:  # the review closed while the watcher started
            watcher.stop()

    def files_changed(self, changed: set[Path]) -> None:
        """A watched file changed: read again whether the proposal is applied (an apply or an
        undo here, `orps apply`, an edit by hand); otherwise say so, mark the proposal stale,
        re-check it."""
        from orps_tui.applied import run_applied

        applied = run_applied(self.job.project, self.job.run)  # a file read and a diff check: quick
        self._set_applied(applied)
        target = (self.job.project / self.target_path).resolve()
        if applied or ({Path(p).resolve() for p in changed} <= {target} and self._as_searched()):
            return  # applied, or back as the search saw it: nothing stale
        names = ", ".join(
            sorted(
                str(p.relative_to(self.job.project.resolve()))
                if p.is_relative_to(self.job.project.resolve())
                else str(p)
                for p in changed
            )
        )
        self.stale = True
        self.notify(f"{names} changed on disk: this proposal is stale; re-checking it.", severity="warning", timeout=8)
        self.query_one("#review-summary", Static).update(self._summary())
        if self.selected is not None and self.selected.code.strip():
            self.recheck_current(self.selected)

    @work(exclusive=True, group="watch-recheck", exit_on_error=False)
    async def recheck_current(self, node: Node) -> None:
        ev = await self.job.evaluator.evaluate(self.job.task, node.code)
        self.rechecks += 1
        self.notify(
            f"Re-check of {node.id} with the files as they are now: {ev.passed}/{ev.total} tests pass.",
            severity="information" if ev.all_passed else "warning",
        )
