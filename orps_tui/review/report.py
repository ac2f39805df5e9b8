"""A review as text (the terminal), as Markdown (a pull-request comment) and as the JSON
document (`orps_tui/schemas/review.json`)."""

from __future__ import annotations

from orps_tui.schema import SCHEMA_VERSION
from runners.review.compare import ChangeReview, FunctionReview, Review, TestChange
from search.terminal_text import printable

UNCHANGED = ("passing", "failing", "skipped")
NEW = ("new_passing", "new_failing")
SHOWN = 8
"""Tests listed per function in the text report, failing tests in the Markdown (the JSON has all)."""
FAILING = ("broken", "new_failing", "failing")
"""Test statuses whose changed side fails: listed with their messages."""


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def runtime(f: FunctionReview) -> str:
    if f.base_runtime_s is None or f.changed_runtime_s is None:
        return "not timed" if f.tests else "-"
    text = f"{seconds(f.base_runtime_s)} -> {seconds(f.changed_runtime_s)}"
    if f.speed in ("slower", "faster") and f.base_runtime_s > 0 and f.changed_runtime_s > 0:
        ratio = f.changed_runtime_s / f.base_runtime_s
        text += f" ({ratio:.1f}x slower)" if f.speed == "slower" else f" ({1 / ratio:.1f}x faster)"
    return text


def counts(f: FunctionReview) -> str:
    parts = []
    for label, statuses in (
        ("fixed", ("fixed",)),
        ("broken", ("broken",)),
        ("unchanged", UNCHANGED),
        ("new", NEW),
        ("removed", ("removed",)),
        ("not run", ("not_run",)),
    ):
        n = f.count(*statuses)
        if n or label in ("fixed", "broken", "unchanged"):
            parts.append(f"{n} {label}")
    return ", ".join(parts)


def verdict_words(f: FunctionReview) -> str:
    words = f.verdict.replace("_", " ")
    return f"{words}, {f.speed}" if f.speed in ("slower", "faster") else words


def first_line(message: str) -> str:
    lines = [line for line in (message or "").strip().splitlines() if line.strip()] or [""]
    return next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1].strip())


def failing_tests(change: ChangeReview) -> list[tuple[FunctionReview | None, TestChange]]:
    """Tests that fail on the changed side, broken and new ones first, each once."""
    seen: set[str] = set()
    out: list[tuple[FunctionReview | None, TestChange]] = []
    order = {"broken": 0, "new_failing": 1, "failing": 2}
    for f in change.functions:
        for t in f.tests:
            if t.status in FAILING and t.id not in seen:
                seen.add(t.id)
                out.append((f, t))
    for t in change.edited_tests:
        if t.status in FAILING and t.id not in seen:
            seen.add(t.id)
            out.append((None, t))
    return sorted(out, key=lambda ft: order[ft[1].status])


def edited_counts(change: ChangeReview) -> str:
    counted: dict[str, int] = {}
    for t in change.edited_tests:
        counted[t.status] = counted.get(t.status, 0) + 1
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counted.items()))


def summary(change: ChangeReview) -> str:
    broken = [f for f in change.functions if f.verdict == "broken"]
    slower = [f for f in change.functions if f.speed == "slower"]
    fixed = [f for f in change.functions if f.verdict == "fixed"]
    parts = []
    if broken:
        parts.append(
            f"{len(broken)} function{'s' if len(broken) > 1 else ''} break{'' if len(broken) > 1 else 's'} "
            f"tests ({', '.join(f.qualname for f in broken)})"
        )
    if slower:
        parts.append(f"{len(slower)} slower ({', '.join(f.qualname for f in slower)})")
    if fixed:
        parts.append(f"{len(fixed)} fixed ({', '.join(f.qualname for f in fixed)})")
    failing_edits = [t for t in change.edited_tests if t.status in ("broken", "new_failing")]
    if failing_edits:
        parts.append(
            f"{len(failing_edits)} test{'s' if len(failing_edits) > 1 else ''} it adds or edits "
            f"fail{'' if len(failing_edits) > 1 else 's'}"
        )
    if not parts and change.edited_tests:
        parts.append("the tests it adds or edits pass")
    if not parts:
        parts.append("nothing broken" if change.functions else "no function touched")
    return "; ".join(parts)


def _files_line(change: ChangeReview) -> str:
    added = sum(1 for line in change.diff.splitlines() if line.startswith("+") and not line.startswith("+++ "))
    removed = sum(1 for line in change.diff.splitlines() if line.startswith("-") and not line.startswith("--- "))
    return f"{len(change.files)} file{'s' if len(change.files) != 1 else ''} changed, +{added} -{removed} lines"


# ---------------------------------------------------------------------------- text


def text_report(review: Review, follow_up: dict | None = None) -> str:
    lines = []
    if len(review.changes) > 1:
        lines += ranking_lines(review) + [""]
    for change in review.changes:
        lines += change_lines(change) + [""]
    if follow_up:
        lines += follow_up_lines(follow_up)
    return "\n".join(printable(line) for line in lines).rstrip() + "\n"


def ranking_lines(review: Review) -> list[str]:
    lines = [f"ranking of {len(review.changes)} changes (tests passed, then runtime, then size):"]
    for place, i in enumerate(review.ranking, 1):
        c = review.changes[i]
        lines.append(
            f"  {place}. {c.name}: {c.passed}/{c.total} tests pass, {seconds(c.runtime_s)} over the "
            f"{c.runtime_tests} tests every change passes, {c.size} lines changed"
            f"{'; BREAKS TESTS' if c.broken else ''}"
        )
    return lines


def change_lines(change: ChangeReview) -> list[str]:
    lines = [
        f"review {change.name} (base {change.base}, changed {change.changed}): {_files_line(change)}, "
        f"{len(change.functions)} function{'s' if len(change.functions) != 1 else ''} touched"
        f"{'; sandbox: ' + change.isolation if change.isolation else ''}"
    ]
    if change.tests_changed:
        lines.append(
            f"  note: the change modifies tests ({', '.join(change.tests_changed)}): read them before trusting a pass"
        )
    for f in change.functions:
        lines.append(f"  {verdict_words(f).upper():<16} {f.target} ({f.kind}): {counts(f)}; runtime {runtime(f)}")
        shown = [t for t in f.tests if t.status in ("broken", "fixed", "new_failing") or t.flaky]
        for t in shown[:SHOWN]:
            mark = t.status.replace("_", " ").upper() + (" (flaky)" if t.flaky else "")
            lines.append(f"      {mark:<12} {t.id}")
            if t.changed_message and t.status != "fixed":
                lines.append(f"          {first_line(t.changed_message)[:160]}")
        if len(shown) > SHOWN:
            lines.append(f"      ... and {len(shown) - SHOWN} more (--json lists them all)")
    if change.edited_tests:
        lines.append(f"  TESTS THE CHANGE ADDS OR EDITS: {edited_counts(change)}")
        bad = [t for t in change.edited_tests if t.status in ("broken", "new_failing", "failing")]
        for t in bad[:SHOWN]:
            lines.append(f"      {t.status.replace('_', ' ').upper():<12} {t.id}")
            if t.changed_message:
                lines.append(f"          {first_line(t.changed_message)[:160]}")
        if len(bad) > SHOWN:
            lines.append(f"      ... and {len(bad) - SHOWN} more (--json lists them all)")
    for note in change.notes:
        lines.append(f"  note: {note}")
    lines.append(f"verdict: {summary(change)}")
    return lines


def follow_up_lines(follow_up: dict) -> list[str]:
    best, original = follow_up.get("best") or {}, follow_up.get("original") or {}
    lines = [
        f"follow-up search on {follow_up['target']} (goal {follow_up.get('goal', 'fix')}): {follow_up['status']}; "
        f"the change's version passes {original.get('passed', 0)}/{original.get('total', 0)}, the best candidate "
        f"{best.get('passed', 0)}/{best.get('total', 0)} ({follow_up.get('model_calls', 0)} model calls)"
    ]
    if follow_up.get("patch"):
        lines += ["proposed follow-up patch (on top of the reviewed change):", follow_up["patch"].rstrip()]
        if follow_up.get("patch_file"):
            lines.append(
                f"written to {follow_up['patch_file']}; on a checkout of the change: "
                f"orps apply {follow_up['patch_file']}"
            )
    else:
        lines.append("no follow-up patch to propose")
    return lines


# ---------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def markdown_report(review: Review, follow_up: dict | None = None) -> str:
    out = []
    if len(review.changes) > 1:
        out += [
            "## orps review: ranking",
            "",
            "| # | change | tests passed | runtime (tests every change passes) | lines changed | breaks tests |",
            "|---|---|---|---|---|---|",
        ]
        for place, i in enumerate(review.ranking, 1):
            c = review.changes[i]
            out.append(
                f"| {place} | `{_md(c.name)}` | {c.passed}/{c.total} | {seconds(c.runtime_s)} "
                f"({c.runtime_tests} tests) | {c.size} | "
                f"{'**yes**' if c.broken else 'no'} |"
            )
        out.append("")
    for change in review.changes:
        out += markdown_change(change, review.repeat)
    if follow_up:
        out += [f"### Proposed follow-up patch: `{_md(follow_up['target'])}`", ""]
        if follow_up.get("patch"):
            out += [
                f"A search from the reviewed change ({follow_up['status']}) proposes, on top of it:",
                "",
                _fence(follow_up["patch"], "diff"),
                "",
            ]
        else:
            out += [f"A search from the reviewed change found nothing better ({follow_up['status']}).", ""]
    out.append(
        "<sub>Generated by `orps review`: each function's tests ran in a sandbox on the base and on the "
        f"changed copy ({review.repeat} runs each; runtimes are the tests' call phase, the fastest run).</sub>"
    )
    return "\n".join(out).rstrip() + "\n"


def markdown_change(change: ChangeReview, repeat: int) -> list[str]:
    out = [
        f"## orps review: `{_md(change.name)}`",
        "",
        f"**{summary(change)}** (base `{_md(change.base)}`, changed `{_md(change.changed)}`; {_files_line(change)})",
        "",
    ]
    if change.tests_changed:
        out += [
            f"> The change modifies tests ({', '.join(f'`{t}`' for t in change.tests_changed)}): "
            "read them before trusting a pass.",
            "",
        ]
    if change.functions:
        out += [
            "| function | change | verdict | fixed | broken | unchanged | new | runtime (base → changed) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for f in change.functions:
            verdict = verdict_words(f)
            if f.verdict == "broken" or f.speed == "slower":
                verdict = f"**{verdict}**"
            out.append(
                f"| `{_md(f.target)}` | {f.kind} | {verdict} | {f.count('fixed')} | {f.count('broken')} | "
                f"{f.count(*UNCHANGED)} | {f.count(*NEW)} | {_md(runtime(f)).replace('->', '→')} |"
            )
        out.append("")
    if change.edited_tests:
        out += [f"Tests the change adds or edits: {edited_counts(change)}.", ""]
    failing = failing_tests(change)
    if failing:
        out += ["### Failing tests", ""]
        for owner, t in failing[:SHOWN]:
            whose = f"<code>{owner.qualname}</code>" if owner is not None else "a test the change adds or edits"
            out += [
                f"<details><summary><code>{t.id}</code>: {t.status.replace('_', ' ')} ({whose})</summary>",
                "",
                _fence(t.changed_message or "(no message)"),
                "",
                "</details>",
                "",
            ]
        if len(failing) > SHOWN:
            out += [f"... and {len(failing) - SHOWN} more failing tests (`orps review --json` lists them all).", ""]
    for note in change.notes:
        out.append(f"- note: {note}")
    if change.notes:
        out.append("")
    return out


# ---------------------------------------------------------------------------- JSON


def exit_code(review: Review) -> int:
    """0 when the change (the best one, of several) breaks no test; 1 when it does."""
    return 1 if review.best.broken else 0


def json_document(review: Review, project: str, follow_up: dict | None = None) -> dict:
    doc = review.to_dict()
    return {
        "schema_version": SCHEMA_VERSION,
        "project": project,
        "changes": doc["changes"],
        "ranking": [review.changes[i].name for i in review.ranking],
        "best": review.best.name,
        "broken": review.best.broken,
        "repeat": review.repeat,
        "follow_up": follow_up,
        "exit_code": exit_code(review),
    }
