# Over 400 lines on purpose: one selection rule, from the probes it derives to the node it chooses, read top to bottom.
"""Agreement among tied candidates: a selection rule that resists overfitting to few tests.

Two public asserts are a weak guide: `def bell_number(n): return 1` passes both of MBPP's.
When several candidates tie on the public pass rate, the one whose behaviour most of the
others share on *extra* inputs is more likely to be right than one that special-cases the
asserts (AlphaCode's clustering, CodeT's dual agreement, S*'s distinguishing inputs).

This module is pure logic; running the probes is the evaluator's job:
- `calls_in_tests`: the calls to the target with literal arguments in the public tests
  (an assert list, or the source of a project's pytest tests);
- `derive_probes`: new argument lists by type-aware mutation of those arguments;
- `probe_task`: a dataset-style task whose tests call the candidate on each probe and
  always fail with a message carrying a digest and a short text of what happened
  (`returns <repr>`, `raises TypeError`, `timeout`), under a per-probe time limit;
- `read_outputs`: those outputs back from the Evaluation;
- `agreement_scores` and `choose`: who agrees with whom, and which tied node wins.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import math
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from search import scoring
from search.tree import Node
from search.types import Evaluation, Evaluator, Task

MAX_PROBES = 12
"""Probe inputs per search: each is one test of one sandbox run per tied candidate."""
PROBE_SECONDS = 0.5
"""Time limit of one probe call (a candidate that hangs on an input gets `timeout`)."""
SHOWN_CHARS = 120
"""Characters of an output kept for people; outputs are compared by their full digest."""
UNTRUSTED = ("suspicious", "tampered")
"""Verdicts that never count: neither as a candidate to choose nor as a voter."""


@dataclass
class Call:
    """One call of the target: positional and keyword arguments, all plain literals."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def render(self, name: str) -> str:
        parts = [_literal(a) for a in self.args] + [f"{k}={_literal(v)}" for k, v in self.kwargs.items()]
        return f"{name}({', '.join(parts)})"

    def key(self) -> str:
        return self.render("f")


def _literal(value: Any) -> str:
    """Source text that evaluates back to `value` (repr, except where repr is not source)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, (set, frozenset)) and not value:
        return "set()" if isinstance(value, set) else "frozenset()"
    return repr(value)


# -- finding the calls in the public tests -------------------------------------------------


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):  # `p.func(...)`, `module.func(...)`
        return func.attr
    return None


def _literal_call(node: ast.Call) -> Call | None:
    try:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return None
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # an argument that is not a plain literal (a variable, a call, a fixture)
    return Call(args, kwargs)


def calls_in_tests(sources: list[str], name: str) -> list[Call]:
    """Distinct calls of `name` (by name or as an attribute) whose arguments are literals."""
    found: dict[str, Call] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _called_name(node.func) == name and (node.args or node.keywords):
                call = _literal_call(node)
                if call is not None:
                    found.setdefault(call.key(), call)
    return list(found.values())


def task_calls(task: Task) -> list[Call]:
    """The literal calls of the task's target in its public tests (for a project: in the
    selected tests' source; a method's calls are not found, as the instance is not a literal)."""
    name = task.entry_point.rsplit(".", 1)[-1]
    sources = task.tests if task.kind == "asserts" else [task.tests_source]
    if task.kind != "asserts" and "." in task.entry_point:
        return []
    return calls_in_tests(sources, name)


# -- type-aware mutation -------------------------------------------------------------------


def mutations(value: Any, rng: random.Random, depth: int = 0) -> list[Any]:
    """Nearby values of the same type: ints +-1, 0, negated, larger; strings empty,
    reversed, case-changed, longer; sequences empty, shuffled, one element dropped or
    added, sorted, reversed, and their first element mutated (nested by element type)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, 0, -value if value else -1, value * 3 + 7]
    if isinstance(value, float):
        if not math.isfinite(value):
            return [0.0]
        return [value + 1.0, value - 0.5, 0.0, -value if value else -1.5, value * 3 + 7.25]
    if isinstance(value, str):
        return ["", value[::-1], value.swapcase(), value + value[::-1], value[1:]]
    if isinstance(value, (list, tuple)):
        kind = type(value)
        items = list(value)
        out: list[Any] = [kind()]
        if len(items) > 1:
            shuffled = items[:]
            rng.shuffle(shuffled)
            out += [kind(shuffled), kind(items[:-1]), kind(items[::-1])]
            try:
                out.append(kind(sorted(items)))
            except TypeError:
                pass  # mixed types: no order
        if items:
            extra = (mutations(items[-1], rng, depth + 1) or [items[-1]])[0] if depth < 3 else items[-1]
            out.append(kind(items + [extra]))
            if depth < 3:
                for first in mutations(items[0], rng, depth + 1)[:2]:
                    out.append(kind([first] + items[1:]))
        return out
    if isinstance(value, dict):
        out = [{}]
        if value:
            keys = list(value)
            out.append({k: value[k] for k in keys[:-1]})
            if depth < 3:
                first = mutations(value[keys[0]], rng, depth + 1)[:1]
                out += [{**value, keys[0]: v} for v in first]
        return out
    if isinstance(value, (set, frozenset)):
        set_kind = type(value)
        items = sorted(value, key=repr)
        return [set_kind()] + ([set_kind(items[:-1])] if items else [])
    return []  # None, bytes, complex...: left as they are


def derive_probes(calls: list[Call], limit: int = MAX_PROBES, seed: int = 0) -> list[Call]:
    """Up to `limit` new calls, each a public call with one argument mutated. Taken
    round-robin over the public calls and their argument positions, so the probes spread
    over every call and argument rather than exhausting the first."""
    rng = random.Random(seed)
    seen = {c.key() for c in calls}
    streams: list[list[Call]] = []
    for call in calls:
        for i, arg in enumerate(call.args):
            streams.append(
                [Call(call.args[:i] + (m,) + call.args[i + 1 :], dict(call.kwargs)) for m in mutations(arg, rng)]
            )
        for k, v in call.kwargs.items():
            streams.append([Call(call.args, {**call.kwargs, k: m}) for m in mutations(v, rng)])
    probes: list[Call] = []
    position = 0
    while len(probes) < limit and any(position < len(s) for s in streams):
        for stream in streams:
            if position < len(stream) and len(probes) < limit:
                call = stream[position]
                key = call.key()
                if key not in seen and _writable(key):
                    seen.add(key)
                    probes.append(call)
        position += 1
    return probes


def _writable(source: str) -> bool:
    """Whether a rendered call is valid source (and not absurdly long)."""
    if len(source) > 2000:
        return False
    try:
        compile(source, "<probe>", "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


# -- running them through any Evaluator -----------------------------------------------------


def helpers_source(marker: str) -> str:
    """Test-file code that turns one call into the probe's failure message."""
    return f'''
import hashlib as __orps_hashlib, signal as __orps_signal


class __OrpsProbeTimeout(BaseException):
    pass


def __orps_canon(value, depth=0):
    """A repr that does not depend on the process: sets sorted, floats rounded."""
    if depth > 20:
        return "..."
    if isinstance(value, float):
        return repr(round(value, 9))
    if isinstance(value, (set, frozenset)):
        return type(value).__name__ + "(" + repr(sorted(__orps_canon(v, depth + 1) for v in value)) + ")"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(__orps_canon(v, depth + 1) for v in value)
        return ("[%s]" if isinstance(value, list) else "(%s)") % inner
    if isinstance(value, dict):
        return "{{" + ", ".join(__orps_canon(k, depth + 1) + ": " + __orps_canon(v, depth + 1)
                              for k, v in value.items()) + "}}"
    return repr(value)


def __orps_alarm(signum, frame):
    raise __OrpsProbeTimeout()


def __orps_probe(thunk):
    __orps_signal.signal(__orps_signal.SIGALRM, __orps_alarm)
    __orps_signal.setitimer(__orps_signal.ITIMER_REAL, {PROBE_SECONDS})
    try:
        out = "returns " + __orps_canon(thunk())
    except __OrpsProbeTimeout:
        out = "timeout"
    except BaseException as err:
        out = "raises " + type(err).__name__
    finally:
        __orps_signal.setitimer(__orps_signal.ITIMER_REAL, 0)
    digest = __orps_hashlib.sha256(out.encode()).hexdigest()[:16]
    raise AssertionError("{marker} " + digest + " " + out[:{SHOWN_CHARS}].replace("\\n", " "))
'''


def probe_task(task: Task, probes: list[Call], marker: str | None = None) -> tuple[Task, str]:
    """A dataset-style task running each probe as one test (and the marker its messages
    carry: random per search, so a candidate cannot print a forged output)."""
    marker = marker or "ORPS-PROBE-" + secrets.token_hex(6)
    name = task.entry_point
    tests = [f"__orps_probe(lambda: {call.render(name)})" for call in probes]
    setup = (task.test_setup or "") + "\n" + helpers_source(marker)
    return Task(
        id=f"{task.id}/probes", problem="", entry_point=name, kind="asserts", tests=tests, test_setup=setup
    ), marker


@dataclass
class Output:
    digest: str
    text: str


def read_outputs(ev: Evaluation, marker: str, count: int) -> list[Output | None]:
    """Each probe's output, or None where it did not report one (the run was cut short)."""
    outputs: list[Output | None] = [None] * count
    for i, test in enumerate(ev.tests[:count]):
        for line in test.message.splitlines():
            if marker + " " not in line:
                continue
            # The traceback also shows the source line (`"marker " + digest ...`): only the
            # message has 16 hex digits after the marker.
            digest, _, text = line.split(marker + " ", 1)[1].partition(" ")
            if len(digest) == 16 and all(c in "0123456789abcdef" for c in digest):
                outputs[i] = Output(digest, text)
                break
    return outputs


# -- who agrees, and who wins -----------------------------------------------------------------


def agreement_scores(outputs: dict[str, list[Output | None]]) -> dict[str, float]:
    """For each candidate: the mean over probes of the share of the *other* candidates that
    gave the same output (a timeout or a missing output agrees with nothing). 1.0: everyone
    behaves like it on every probe; 0.0: nobody does on any."""
    scores: dict[str, float] = {}
    names = list(outputs)
    for name in names:
        others = [o for o in names if o != name]
        mine = outputs[name]
        if not others or not mine:
            scores[name] = 0.0
            continue
        total = 0.0
        for j, out in enumerate(mine):
            if out is None or out.text == "timeout":
                continue
            same = sum(
                1
                for o in others
                if j < len(outputs[o]) and (theirs := outputs[o][j]) is not None and theirs.digest == out.digest
            )
            total += same / len(others)
        scores[name] = total / len(mine)
    return scores


def code_key(code: str) -> str:
    """Candidates with the same code behave the same: run once, vote as many times as sampled."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


ProbeRunner = Callable[[Task, str, list[Call]], Awaitable["list[Output | None] | None"]]
"""Runs one candidate on the probes: its outputs, or None when the run is not to be
trusted (suspicious, tampered) or could not run at all."""


def evaluator_probes(evaluator: Evaluator, marker: str | None = None) -> ProbeRunner:
    """Probes through any Evaluator, as a dataset-style task (the task's own setup kept).
    For a project task this needs the target importable as a module on its own, which the
    dataset layout does not give: project tasks get a runner from `runners` instead."""

    async def run(task: Task, code: str, probes: list[Call]) -> list[Output | None] | None:
        ptask, mark = probe_task(task, probes, marker)
        ev = await evaluator.evaluate(ptask, code)
        if ev.verdict in UNTRUSTED or ev.verdict in ("error", "crashed"):
            return None
        return read_outputs(ev, mark, len(probes))

    return run


@dataclass
class AgreementReport:
    """What agreement did in one search (the result document's `agreement`)."""

    inputs: list[str] = field(default_factory=list)
    """The probe calls, as source (`f(2, 3)`)."""
    tied: list[str] = field(default_factory=list)
    """Node ids tied on the best public pass rate (the ones probed)."""
    scores: dict[str, float | None] = field(default_factory=dict)
    """Node id -> agreement (0..1); None when its probe run was not trusted."""
    outputs: dict[str, list[str | None] | None] = field(default_factory=dict)
    before: str | None = None
    """The node the plain rule (pass rate, runtime, outcome) picks."""
    chosen: str | None = None
    skipped: str = ""
    """Why agreement did not choose (no tie, no literal calls in the tests...)."""

    @property
    def changed(self) -> bool:
        return bool(self.chosen and self.before and self.chosen != self.before)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "tied": self.tied,
            "scores": self.scores,
            "before": self.before,
            "chosen": self.chosen,
            "changed": self.changed,
            "skipped": self.skipped,
        }


def eligible(nodes: list[Node]) -> list[Node]:
    """Candidates that may be chosen at all: evaluated, with code, and not caught cheating."""
    return [n for n in nodes if n.evaluation is not None and n.code.strip() and n.evaluation.verdict not in UNTRUSTED]


async def select_by_agreement(
    task: Task, nodes: list[Node], run: ProbeRunner, *, seed: int = 0, limit: int = MAX_PROBES
) -> AgreementReport:
    """Among the candidates tied on the best public pass rate, the one whose outputs on
    derived probe inputs most of the others share; the plain rule breaks what is left."""
    pool = scoring.in_id_order(eligible(nodes))
    report = AgreementReport()
    if not pool:
        report.skipped = "no trusted candidate"
        return report
    plain = max(pool, key=scoring.final_key)
    report.before = report.chosen = plain.id
    top = plain.pass_rate
    tied = [n for n in pool if n.pass_rate == top]
    report.tied = [n.id for n in tied]
    if top == 0:
        report.skipped = "no candidate passes a public test"
        return report
    if len({code_key(n.code) for n in tied}) < 2:
        report.skipped = "no tie: one candidate (or one program) has the best public pass rate"
        return report
    calls = task_calls(task)
    if not calls:
        report.skipped = f"the public tests have no call of {task.entry_point} with literal arguments"
        return report
    probes = derive_probes(calls, limit, seed)
    if not probes:
        report.skipped = "no probe input could be derived from the public tests' arguments"
        return report
    report.inputs = [p.render(task.entry_point) for p in probes]
    by_code: dict[str, Node] = {}
    for node in tied:
        by_code.setdefault(code_key(node.code), node)
    results = await asyncio.gather(*(run(task, node.code, probes) for node in by_code.values()))
    per_code = dict(zip(by_code, results))
    outputs = {n.id: per_code[code_key(n.code)] for n in tied}
    # A run that reported no output at all (cut short, or a probe file that did not load)
    # says nothing about the candidate: it neither votes nor is scored.
    trusted = {k: v for k, v in outputs.items() if v is not None and any(o is not None for o in v)}
    scores = agreement_scores(trusted)
    report.scores = {n.id: (round(scores[n.id], 4) if n.id in scores else None) for n in tied}
    report.outputs = {k: [o.text if o else None for o in v] if v is not None else None for k, v in outputs.items()}
    if not trusted:
        report.skipped = "no candidate's probe run could be trusted"
        return report
    best = max(tied, key=lambda n: (scores.get(n.id, -1.0), scoring.final_key(n)))
    report.chosen = best.id
    return report


def record_on_nodes(report: AgreementReport, nodes: list[Node]) -> None:
    """Each probed node keeps the probe inputs, its outputs and its agreement."""
    for node in nodes:
        if node.id in report.scores:
            node.agreement = report.scores[node.id]
            outs = report.outputs.get(node.id) or [None] * len(report.inputs)
            node.probes = [{"input": i, "output": o} for i, o in zip(report.inputs, outs)]
