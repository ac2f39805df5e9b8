"""Review: the best candidate's patch as a coloured diff, any other node's diff, a side by
side comparison, and accept (through the same safe apply as `orps apply`), edit, reject.

While the review is open the target file is watched: if it changes on disk the proposal
is marked stale and accepting is refused by the apply check anyway.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from orps_tui.solving import SolveJob, is_improvement, node_patch
from search import scoring
from search.tree import Node, SearchTree


def node_label(node: Node, best_id: str | None) -> Text:
    ev = node.evaluation
    mark = "★ " if node.id == best_id else "  "
    passed = f"{ev.passed}/{ev.total}" if ev else "-"
    runtime = f" {ev.runtime_s * 1000:.1f}ms" if ev and ev.runtime_s is not None else ""
    name = "original" if node.id == "baseline" else node.id
    style = "green" if node.all_passed else ("yellow" if ev and ev.passed else "red")
    return Text.assemble(mark, (f"{name:<9}", "bold"), (f"{passed:>6}", style), runtime)


class ReviewScreen(Screen):
    BINDINGS = [
        Binding("a", "accept", "Accept"),
        Binding("r", "reject", "Reject"),
        Binding("e", "edit", "Edit"),
        Binding("d", "compare", "Compare"),
        Binding("n", "next_node", "Next"),
        Binding("p", "prev_node", "Prev"),
        Binding("h", "app.history", "History"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, job: SolveJob, tree: SearchTree, best: Node | None, baseline: Node | None, status: str):
        super().__init__()
        self.job, self.search_tree, self.best, self.baseline, self.status = job, tree, best, baseline, status
        self.selected: Node | None = best
        self.applied = False
        self.stale = False
        self.watcher = None
        self.edits = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="review-summary", classes="status")
        with Horizontal(id="review-body"):
            yield OptionList(id="node-list")
            with VerticalScroll(id="diff-scroll"):
                yield Static(id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self._fill_list()
        self._show(self.selected)
        self._start_watch()

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    def _ordered(self) -> list[Node]:
        nodes = [n for n in self.search_tree if n.evaluation is not None and n.id != "baseline"]
        ordered = sorted(nodes, key=scoring.final_key, reverse=True)
        return ordered + ([self.baseline] if self.baseline else [])

    def _fill_list(self) -> None:
        options = self.query_one("#node-list", OptionList)
        options.clear_options()
        best_id = self.best.id if self.best else None
        for node in self._ordered():
            options.add_option(Option(node_label(node, best_id), id=node.id))
        if self.selected is not None:
            try:
                options.highlighted = options.get_option_index(self.selected.id)
            except Exception:  # noqa: BLE001 - an unknown id just leaves the cursor where it is
                pass

    def patch_for(self, node: Node | None) -> str:
        return node_patch(self.job.task, self.job.original_file, node)

    def _summary(self) -> Text:
        best = self.best
        parts = [f"search {self.status}"]
        if best and best.evaluation:
            parts.append(f"best {best.id}: {best.evaluation.passed}/{best.evaluation.total} tests")
        if self.baseline and self.baseline.evaluation:
            parts.append(f"original: {self.baseline.evaluation.passed}/{self.baseline.evaluation.total}")
        if self.selected is not None:
            parts.append(f"showing {self.selected.id}")
        if self.applied:
            parts.append("APPLIED")
        if self.stale:
            parts.append("STALE: the file changed on disk")
        return Text("  ·  ".join(parts), style="bold red" if self.stale else "")

    def _show(self, node: Node | None) -> None:
        self.selected = node
        diff = self.query_one("#diff", Static)
        patch = self.patch_for(node)
        if node is None:
            diff.update(Text("The search produced no candidate to review."))
        elif not patch:
            diff.update(Text(f"Node {node.id} changes nothing in {self.job.task.target} (or its code cannot be put in place)."))
        else:
            theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
            diff.update(Syntax(patch, "diff", theme=theme, word_wrap=True))
        self.query_one("#review-summary", Static).update(self._summary())

    @on(OptionList.OptionHighlighted, "#node-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        node = self.search_tree.get(event.option.id)
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

    # -- accept / reject ----------------------------------------------------------------
    def action_accept(self) -> None:
        from orps_tui.screens.dialogs import ConfirmScreen

        node = self.selected
        patch = self.patch_for(node)
        if not patch:
            self.notify("Nothing to apply for this node.", severity="warning")
            return
        worse = node is not None and not is_improvement(node, self.baseline, self.job.settings.goal)
        warning = "\n[b]This node does not beat the original code.[/b]" if worse else ""
        question = f"Apply {node.id}'s patch to {self.job.task.target.split('::')[0]}?{warning}\nA backup is kept (undo: orps apply --revert)."
        self.app.push_screen(ConfirmScreen(question), lambda yes: self._apply(patch) if yes else None)

    def _apply(self, patch: str) -> None:
        from runners.patch import PatchError, apply_patch

        try:
            result = apply_patch(self.job.project, patch)
        except PatchError as err:
            self.notify(str(err), title="Not applied", severity="error", timeout=8)
            return
        self.applied = True
        self.job.run.update_meta(applied=self.selected.id if self.selected else None)
        self.notify(f"Applied to {', '.join(result.files)}: +{result.added} -{result.removed} lines. "
                    f"Backup in {Path(result.backup).relative_to(self.job.project)}.", title="Applied", timeout=8)
        self.query_one("#review-summary", Static).update(self._summary())

    def action_reject(self) -> None:
        self.job.run.update_meta(rejected=True)
        self.notify("Rejected: your project was not touched.", title="Rejected")
        self.app.pop_screen() if len(self.app.screen_stack) > 2 else self.app.exit()

    # -- compare ------------------------------------------------------------------------
    def action_compare(self) -> None:
        from orps_tui.screens.dialogs import CompareScreen

        left = self.baseline if self.selected is self.best else self.best
        if left is None or self.selected is None:
            self.notify("Nothing to compare with.", severity="warning")
            return
        self.app.push_screen(CompareScreen(left, self.selected))

    # -- edit ---------------------------------------------------------------------------
    def action_edit(self) -> None:
        node = self.selected
        if node is None:
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w", suffix=".py", prefix=f"orps-{node.id}-", delete=False) as f:
            f.write(node.code)
            path = Path(f.name)
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
        except Exception as err:  # noqa: BLE001 - no terminal to suspend (tests) or no editor
            self.notify(f"Could not run the editor {editor!r}: {err}", severity="error")
            return
        code = path.read_text()
        path.unlink(missing_ok=True)
        if code.strip() == node.code.strip():
            self.notify("No changes made in the editor.")
            return
        self.recheck(node, code)

    @work(exclusive=True, group="recheck", exit_on_error=False)
    async def recheck(self, parent: Node, code: str) -> None:
        from search.scoring import outcome_score

        self.edits += 1
        node = Node(id=f"edit-{self.edits}", parent=parent.id, round=parent.round, style="edited by you", code=code)
        self.notify(f"Re-checking your edit of {parent.id} in the sandbox...")
        node.evaluation = await self.job.evaluator.evaluate(self.job.task, code)
        node.outcome_score = outcome_score(node.evaluation)
        node.status = "evaluated"
        self.search_tree.add(node)
        self.job.run.write("tree.json", self.search_tree.to_dict())
        self.selected = node
        self._fill_list()
        self._show(node)
        ev = node.evaluation
        self.notify(f"Your edit: {ev.verdict}, {ev.passed}/{ev.total} tests pass.")

    # -- watch --------------------------------------------------------------------------
    def _start_watch(self) -> None:
        from runners.watch import FileWatcher

        target = self.job.project / self.job.task.target.split("::")[0]
        if not target.exists():
            return
        self.watcher = FileWatcher([target], lambda changed: self.app.call_from_thread(self._file_changed)).start()

    def _file_changed(self) -> None:
        from runners.patch import PatchError, check_patch

        patch = self.patch_for(self.selected)
        if not patch:
            return
        try:
            check_patch(self.job.project, patch)
            return
        except PatchError as err:
            if err.kind == "applied":
                return
        self.stale = True
        self.notify(f"{self.job.task.target.split('::')[0]} changed on disk: this proposal is stale.",
                    severity="warning", timeout=8)
        self.query_one("#review-summary", Static).update(self._summary())
