"""Behaving like the original: record the calls the tests make, replay them on a candidate.

Kept whole because recording, replaying and comparing share one harness protocol (the record
format, the value encoding, the harness directory) defined here.

Under `--goal faster` the tests passing is not enough: they check a few properties, and a
faster candidate can change what they do not check (`list(set(xs))` for an order-keeping
dedupe passes tests that compare contents). So:

1. Recording (trusted: the user's code and tests). The selected tests run once in the
   sandbox with the ORIGINAL code; every outermost call to the target is written down:
   its arguments, what it returned or raised, and its arguments after the call
   (`_orps_record.py`). Calls whose replay of the original itself does not repeat what was
   recorded (time, randomness, outside state) are left out, and counted.
2. Replay (untrusted: the candidate). The candidate, in its own sandboxed process, is
   called on the recorded arguments only (`_orps_replay.py`); its answers come back as JSON
   and are compared here, in orps's own process. Nothing a candidate produced is ever
   unpickled or evaluated (`_orps_values`), and the sandbox never holds the original's
   answers: to send them back the candidate has to compute them.
3. Comparison (`compare_call`). Values compare exactly by type and content, except floats
   (within `REL_TOL`/`ABS_TOL`, NaN equal to NaN). Exceptions compare by type, not message.
   An object that is no builtin value compares by its type and attributes; one without
   attributes by its repr (said in the report: `compared_by_repr`). Calls that take such an
   object as an argument are recorded but cannot be replayed (`not_replayed`).

`check` gives a report (`to_dict` is stored on the Evaluation as `equivalence`): the calls
compared, the first call that differs with both answers, and the coverage of the
candidate's changed lines by the replayed calls (below `THIN_COVERAGE` the evidence is
called thin).
"""

from __future__ import annotations

import ast
import asyncio
import difflib
import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from runners.sandbox.caps import SandboxResult
from runners.sandbox.run import run_sandboxed
from runners.speed._orps_values import decode, encode, rebuildable  # noqa: F401 - the public names of the value codec
from runners.speed.probes import module_of
from runners.target import Target

REL_TOL = 1e-9
ABS_TOL = 1e-12
"""Floats are equal within math.isclose(rel_tol=1e-9, abs_tol=1e-12): a faster summation order
may change the last bits of a float, not its meaning."""
MAX_GENERATED = 24
"""Inputs generated from the recorded arguments (`search.agreement.mutations`: one argument
changed at a time by its type), kept when the original answers them in time, the same twice."""
GENERATED_CALL_S = 0.25
"""The original's time limit on a generated input (an input it cannot answer quickly is dropped)."""
CANDIDATE_CALL_S = 1.0
"""A candidate's time limit on a generated input the original answered."""
THIN_COVERAGE = 0.8
"""Below this share of the changed lines run by the replayed calls, the evidence is thin."""
READ_CAP = 32 << 20
HARNESS = (
    "_orps_values.py",
    "_orps_record.py",
    "_orps_replay.py",
    "_orps_timing.py",
    "_orps_tracehook.py",
    "_orps_reach.py",  # runners.testing.reachmap's: it runs the whole suite the same way
)
SHOWN = 200


@dataclass
class Recording:
    calls: list[dict] = field(default_factory=list)
    """Every recorded call: args, kwargs (encoded), returned or raised, after, kwargs_after."""
    replayable: list[dict] = field(default_factory=list)
    not_replayed: dict[str, int] = field(default_factory=dict)
    """Why recorded calls are not replayed -> how many."""
    error: str = ""
    original_text: str = ""
    """The target's file as the original run had it (to find a candidate's changed lines)."""


@dataclass
class Report:
    same: bool | None
    """True: same on every replayed call; False: one differs; None: nothing to compare."""
    compared: int = 0
    generated: int = 0
    """Of the calls compared, how many were generated from the recorded arguments."""
    traced: int = 0
    """Of the calls compared, how many `orps trace` saved from a real command."""
    recorded: int = 0
    not_replayed: dict[str, int] = field(default_factory=dict)
    difference: dict | None = None
    """The first recorded call (from the tests) answered differently: the candidate is refused."""
    generated_difference: dict | None = None
    """The first generated input answered differently: reported, not refused (a generated
    input may lie outside what the function is meant for, e.g. fib(-1))."""
    compared_by_repr: int = 0
    coverage: dict | None = None
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for people (and for the model's feedback)."""
        if self.same is None:
            return f"behaviour not checked: {self.note}"
        if self.same is False and self.difference:
            d = self.difference
            sources: dict[str | None, str] = {
                "generated": " (an input generated from the tests' arguments)",
                "trace": " (a call saved by orps trace)",
            }
            where = sources.get(d.get("source"), "")
            return (
                f"behaves differently from the original on {d['call']}{where}: {d['what']}: "
                f"original {d['original']}, candidate {d['candidate']}"
            )
        text = f"same behaviour as the original on {self.compared} call(s)"
        if self.generated or self.traced:
            parts = [f"{self.compared - self.generated - self.traced} from the tests"]
            parts += [f"{self.traced} traced"] if self.traced else []
            parts += [f"{self.generated} generated"] if self.generated else []
            text += f" ({', '.join(parts)})"
        if self.coverage:
            text += f", which run {self.coverage['percent']}% of the changed lines"
            if self.coverage.get("thin"):
                text += f" (thin evidence: under {THIN_COVERAGE:.0%})"
        if self.compared_by_repr:
            text += f"; {self.compared_by_repr} value(s) compared by their repr"
        g = self.generated_difference
        if g:
            text += (
                f"; but on {g['call']}, an input generated beyond the tests, {g['what']}: "
                f"original {g['original']}, candidate {g['candidate']}"
            )
        return text


# -- showing values -------------------------------------------------------------------------


def clean(text: str) -> str:
    """One printable line: a candidate's answer ends up in reports, terminals and the patch
    header, where a newline could start a line of its own (a forged hunk)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def render(node, limit: int = SHOWN) -> str:
    """An encoded value as short Python-like text (one printable line)."""
    try:
        text = clean(_render(node))
    except (AttributeError, KeyError, TypeError, ValueError):  # a malformed answer from a candidate
        text = "<a malformed value>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _render(node) -> str:
    if node is None or isinstance(node, bool) or isinstance(node, str):
        return repr(node)
    tag, v = node.get("t"), node.get("v")
    if tag in ("int",):
        return v
    if tag == "float":
        return repr(v) if isinstance(v, float) else f"float({v!r})"
    if tag == "str":
        return repr(v) + "..."
    if tag == "list":
        return "[" + ", ".join(_render(x) for x in v) + "]"
    if tag == "tuple":
        return "(" + ", ".join(_render(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if tag in ("set", "frozenset"):
        inner = ", ".join(_render(x) for x in v)
        return ("{" + inner + "}" if v else "set()") if tag == "set" else f"frozenset({{{inner}}})"
    if tag == "dict":
        return "{" + ", ".join(f"{_render(k)}: {_render(x)}" for k, x in v) + "}"
    if tag == "obj":
        return node["type"].rsplit(".", 1)[-1] + "(" + ", ".join(f"{k}={_render(x)}" for k, x in v.items()) + ")"
    if tag in ("bytes", "bytearray"):
        return f"<{tag} (base64) {v}>"
    if tag == "complex":
        return f"complex({_render(node['re'])}, {_render(node['im'])})"
    return str(v)


def render_call(name: str, call: dict) -> str:
    parts = [render(a, 80) for a in call.get("args", [])]
    parts += [f"{k}={render(v, 80)}" for k, v in call.get("kwargs", {}).items()]
    return f"{name}({', '.join(parts)})"[:SHOWN]


def _answer(record: dict) -> str:
    if "raised" in record:
        text = f"raised {str(record['raised']).rsplit('.', 1)[-1]}" + (
            f"({str(record.get('message', ''))[:SHOWN]!r})" if record.get("message") else ""
        )
        return clean(text)
    return f"returned {render(record.get('returned'))}"


# -- comparing -----------------------------------------------------------------------------


class _Counter:
    def __init__(self):
        self.by_repr = 0


def same_value(a, b, counter: _Counter | None = None) -> bool:
    """Encoded values equal (floats within the tolerance; see the module docstring)."""
    if a is None or isinstance(a, (bool, str)) or b is None or isinstance(b, (bool, str)):
        return type(a) is type(b) and a == b
    if not isinstance(a, dict) or not isinstance(b, dict) or a.get("t") != b.get("t"):
        return False
    tag = a["t"]
    if tag == "float":
        x, y = float(a["v"]), float(b["v"])
        return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if tag == "complex":
        return same_value(a["re"], b["re"], counter) and same_value(a["im"], b["im"], counter)
    if tag in ("list", "tuple", "set", "frozenset"):
        return (
            len(a["v"]) == len(b["v"])
            and bool(a.get("cut")) == bool(b.get("cut"))
            and all(same_value(x, y, counter) for x, y in zip(a["v"], b["v"]))
        )
    if tag == "dict":
        return len(a["v"]) == len(b["v"]) and all(
            same_value(ka, kb, counter) and same_value(va, vb, counter) for (ka, va), (kb, vb) in zip(a["v"], b["v"])
        )
    if tag == "obj":
        return (
            a.get("type") == b.get("type")
            and a["v"].keys() == b["v"].keys()
            and all(same_value(a["v"][k], b["v"][k], counter) for k in a["v"])
        )
    if tag == "repr" and counter is not None:
        counter.by_repr += 1
    return a.get("type") == b.get("type") and a.get("v") == b.get("v") and a.get("cut") == b.get("cut")


def compare_call(recorded: dict, got: dict | None, counter: _Counter | None = None) -> tuple[str, str, str] | None:
    """None when the candidate's answer to a call matches the original's; else (what
    differs, the original's side, the candidate's side)."""
    if got is None:
        return ("no answer", _answer(recorded), "gave no answer (its replay stopped before this call)")
    if got.get("timeout"):
        return ("time", _answer(recorded), f"did not answer within {got['timeout']} s")
    if ("raised" in recorded) != ("raised" in got):
        return ("result", _answer(recorded), _answer(got))
    if "raised" in recorded:
        if recorded["raised"] != got["raised"]:
            return ("exception", _answer(recorded), _answer(got))
    elif not same_value(recorded.get("returned"), got.get("returned"), counter):
        return ("return value", _answer(recorded), _answer(got))
    for i, (x, y) in enumerate(zip(recorded.get("after", []), got.get("after", []))):
        if not same_value(x, y, counter):
            return (f"argument {i + 1} after the call", render(x), render(y))
    for k, x in recorded.get("kwargs_after", {}).items():
        if not same_value(x, got.get("kwargs_after", {}).get(k), counter):
            return (f"argument {k} after the call", render(x), render(got.get("kwargs_after", {}).get(k)))
    return None


# -- changed lines and their coverage ---------------------------------------------------------


def changed_lines(before: str, after: str) -> set[int]:
    """1-based line numbers of `after` that are new or changed relative to `before`."""
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            lines.update(range(j1 + 1, j2 + 1))
    return lines


def executable_lines(source: str, within: set[int]) -> set[int]:
    """Lines of `source` that hold a statement (of those in `within`); compiled, never run."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.lineno in within and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                found.add(node.lineno)
    return found


def coverage(before: str, after: str, ran: list[int]) -> dict | None:
    wanted = executable_lines(after, changed_lines(before, after))
    if not wanted:
        return None
    hit = wanted & set(ran)
    percent = round(100 * len(hit) / len(wanted))
    return {
        "changed_lines": len(wanted),
        "covered": len(hit),
        "percent": percent,
        "missed": sorted(wanted - hit)[:20],
        "thin": len(hit) < THIN_COVERAGE * len(wanted),
    }


# -- running the harnesses -------------------------------------------------------------------


def harness_dir(evaluator) -> Path:
    """Our harness scripts, copied once per evaluator under its private temp root (mounted
    read-only in each run)."""
    path = evaluator.workspaces.root / "equivalence"
    if not path.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=evaluator.workspaces.root))
        for name in HARNESS:
            shutil.copyfile(Path(__file__).with_name(name), tmp / name)
        (tmp / "trace").mkdir()  # `orps trace`: a directory for PYTHONPATH with only our hook in it
        shutil.copyfile(Path(__file__).with_name("_orps_tracehook.py"), tmp / "trace" / "sitecustomize.py")
        shutil.copyfile(Path(__file__).with_name("_orps_values.py"), tmp / "trace" / "_orps_values.py")
        tmp.rename(path)
    return path


def _reader(fd: int, out: bytearray) -> threading.Thread:
    def read() -> None:
        with os.fdopen(fd, "rb") as f:
            while len(out) <= READ_CAP:
                chunk = f.read1(1 << 16)
                if not chunk:
                    return
                out.extend(chunk)

    thread = threading.Thread(target=read, name="orps-equivalence-read", daemon=True)
    thread.start()
    return thread


def _lines(data: bytes) -> list[dict]:
    records = []
    for line in data.decode(errors="replace").splitlines():
        try:
            record = json.loads(line)  # JSON only: never a pickle, never code
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _target_text(prepared, rel: str) -> str:
    where = prepared.path / rel
    for host, inside in reversed(prepared.mounts):  # the last mount on a path is what the run sees
        if inside == where:
            return Path(host).read_text()
    return where.read_text() if where.is_file() else ""


async def run_harness(
    evaluator,
    task,
    code: str,
    script: str,
    args: list[str],
    fd_env: str,
    *,
    files: dict[str, str] | None = None,
    timeout_s: float | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[list[dict], SandboxResult, str]:
    """Run one of our harness scripts in the sandbox, in a copy of the project with `code`
    in place of the target (and `files` added): (its JSON records, the sandbox result, the
    target file's text in that copy). `command` runs instead of the script (`orps trace`;
    `env` adds to its environment)."""
    from runners.testing.prepare import _replace_files, asserts_test_file, bytecode_of, protected_project_paths

    extra_env = env or {}
    resolved = evaluator.environment(task)
    if resolved.problem is not None:
        raise RuntimeError(resolved.problem.message)
    prepared = evaluator.workspaces.prepare(task, code, task.tests, asserts_test_file, bytecode_of(resolved))
    try:
        if files:
            _replace_files(prepared, files)
        rel = Target.parse(task.target).path
        text = _target_text(prepared, rel)
        hdir = harness_dir(evaluator)
        read_fd, write_fd = os.pipe()
        data = bytearray()
        thread = _reader(read_fd, data)
        limits = (
            evaluator.limits
            if timeout_s is None
            else type(evaluator.limits)(**{**evaluator.limits.__dict__, "timeout_s": timeout_s})
        )
        read_only = (
            []
            if prepared.lower is not None
            else protected_project_paths(prepared.path, prepared.node_ids, prepared.conftests)
        )
        closed = [False]

        def started() -> None:
            os.close(write_fd)
            closed[0] = True

        try:
            paths = evaluator._pythonpath(prepared, True)
            argv = command or [resolved.chosen.path, "-I", str(hdir / script), *args]
            run = await run_sandboxed(
                argv,
                prepared.path,
                limits,
                env={
                    fd_env: str(write_fd),
                    "ORPS_PROJECT_PATHS": paths,
                    **{k: v.replace("{paths}", paths).replace("{harness}", str(hdir)) for k, v in extra_env.items()},
                },
                pass_fds=(write_fd,),
                extra_ro=[hdir, *evaluator._read_paths(prepared, resolved)],
                read_only=read_only,
                copy_on_write=True,
                lower=prepared.lower,
                mounts=prepared.mounts,
                on_start=started,
            )
        finally:
            if not closed[0]:
                os.close(write_fd)
        await asyncio.to_thread(thread.join, 10)
        return _lines(bytes(data)), run, text
    finally:
        evaluator.workspaces.release(prepared)


def _module_and_name(task) -> tuple[str, str]:
    target = Target.parse(task.target)
    return module_of(target.path), target.qualname


async def record(evaluator, task) -> Recording:
    """The calls the selected tests make to the target, with the original code in place;
    then the original replayed on them, to keep only the calls it answers the same again."""
    module, qualname = _module_and_name(task)
    records, run, text = await run_harness(
        evaluator, task, task.original_code, "_orps_record.py", [module, qualname, "--", *task.tests], "ORPS_RECORD_FD"
    )
    rec = Recording(original_text=text)
    errors = [r["message"] for r in records if r.get("type") == "error"]
    if errors:
        rec.error = errors[0]
        return rec
    if not any(r.get("type") == "finish" for r in records):
        rec.error = (
            "the recording run did not finish"
            + (" (time limit)" if run.timed_out else "")
            + f": {(run.stderr or run.stdout).strip()[-300:]}"
        )
    rec.calls = [r for r in records if r.get("type") == "call"]
    skipped = sum(r.get("type") == "skipped" for r in records)
    if skipped:
        rec.not_replayed["larger than the size limit"] = skipped
    for call in rec.calls:
        if all(rebuildable(a) for a in call["args"]) and all(rebuildable(v) for v in call["kwargs"].values()):
            rec.replayable.append(call)
        else:
            rec.not_replayed["an argument is not a builtin value"] = (
                rec.not_replayed.get("an argument is not a builtin value", 0) + 1
            )
    traced = traced_inputs(task, rec.replayable)
    if rec.replayable or traced:
        generated = generate(rec.replayable) + traced
        answers, _, _, _ = await replay(evaluator, task, task.original_code, rec.replayable + generated)
        steady = [call for i, call in enumerate(rec.replayable) if compare_call(call, answers.get(i)) is None]
        if len(steady) < len(rec.replayable):
            rec.not_replayed["the original itself answers differently when replayed"] = len(rec.replayable) - len(
                steady
            )
        answered = [
            {**call, **_outcome(answers[len(rec.replayable) + i]), "limit_s": call["answer_s"]}
            for i, call in enumerate(generated)
            if (answers.get(len(rec.replayable) + i) or {}).get("timeout") is None
            and len(rec.replayable) + i in answers
        ]
        if answered:  # kept only when the original answers them the same way a second time
            again, _, _, _ = await replay(evaluator, task, task.original_code, answered)
            answered = [call for i, call in enumerate(answered) if compare_call(call, again.get(i)) is None]
        rec.replayable = steady + answered
    return rec


def _outcome(answer: dict) -> dict:
    return {k: answer[k] for k in ("returned", "raised", "message", "after", "kwargs_after") if k in answer}


def generate(calls: list[dict], limit: int = MAX_GENERATED) -> list[dict]:
    """New inputs near the recorded ones (one argument changed by its type), with the time
    limit the original gets on them. The recorded arguments are decoded here only to be
    mutated: they come from the original's run, and decoding builds builtin values only."""
    from search.agreement import Call, derive_probes

    base = []
    for call in calls:
        base.append(Call(tuple(decode(a) for a in call["args"]), {k: decode(v) for k, v in call["kwargs"].items()}))
    new = []
    for probe in derive_probes(base, limit=limit):
        new.append(
            {
                "args": [encode(a) for a in probe.args],
                "kwargs": {k: encode(v) for k, v in probe.kwargs.items()},
                "source": "generated",
                "limit_s": GENERATED_CALL_S,
                "answer_s": CANDIDATE_CALL_S,
            }
        )
    return new


def traced_inputs(task, recorded: list[dict]) -> list[dict]:
    """The inputs `orps trace` saved for the target that the tests did not already make."""
    from runners.speed import trace

    known = {json.dumps({"args": c["args"], "kwargs": c["kwargs"]}, sort_keys=True) for c in recorded}
    found = []
    for call in trace.load(Path(task.project), task.target):
        key = json.dumps({"args": call["args"], "kwargs": call["kwargs"]}, sort_keys=True)
        if (
            key not in known
            and all(rebuildable(a) for a in call["args"])
            and all(rebuildable(v) for v in call["kwargs"].values())
        ):
            known.add(key)
            found.append(
                {
                    "args": call["args"],
                    "kwargs": call["kwargs"],
                    "source": "trace",
                    "limit_s": trace.ORIGINAL_CALL_S,
                    "answer_s": trace.CANDIDATE_CALL_S,
                }
            )
    return found


async def replay(
    evaluator, task, code: str, calls: list[dict], files: dict[str, str] | None = None, lines: bool = False
) -> tuple[dict[int, dict], list[int], str, str]:
    """The candidate's answers to the recorded calls (by index), the lines of its file that
    ran, why the replay stopped early ('' when it did not), and its file's text. `files`:
    whole files replaced in the copy (a patch's result), the target's file included."""
    module, qualname = _module_and_name(task)
    hdir = harness_dir(evaluator)
    inputs = json.dumps([{"args": c["args"], "kwargs": c["kwargs"], "limit_s": c.get("limit_s")} for c in calls])
    digest = hashlib.sha256(inputs.encode()).hexdigest()[:16]
    inputs_file = hdir / f"inputs-{digest}.json"
    if not inputs_file.exists():
        tmp = inputs_file.with_suffix(".tmp" + digest)
        tmp.write_text(inputs)
        tmp.replace(inputs_file)
    rel = Target.parse(task.target).path  # relative to the run's directory, the copy's root
    records, run, text = await run_harness(
        evaluator,
        task,
        code,
        "_orps_replay.py",
        [module, qualname, str(inputs_file), rel, *(["lines"] if lines else [])],
        "ORPS_REPLAY_FD",
        files=files,
    )
    answers = {r["i"]: r for r in records if r.get("type") == "call" and isinstance(r.get("i"), int)}
    finish = next((r for r in records if r.get("type") == "finish"), None)
    ran = [n for n in (finish or {}).get("lines", []) if isinstance(n, int)]
    why = ""
    if finish is None:
        errors = [r.get("message", "") for r in records if r.get("type") == "error"]
        why = (
            errors[0]
            if errors
            else ("the time limit" if run.timed_out else f"the process ended (exit {run.returncode})")
        )
    return answers, ran, why, text


class Equivalence:
    """Recordings (one per task: target and tests) and reports (one per candidate's code)."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self._recordings: dict[str, Recording] = {}
        self._reports: dict[tuple[str, str], Report] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _key(task) -> str:
        return json.dumps(
            [task.project, task.target, task.tests, hashlib.sha256(task.original_code.encode()).hexdigest()]
        )

    async def recording(self, task) -> Recording:
        key = self._key(task)
        async with self._lock:  # candidates evaluated at once wait for one recording
            if key not in self._recordings:
                self._recordings[key] = await record(self.evaluator, task)
        return self._recordings[key]

    async def check(self, task, code: str, files: dict[str, str] | None = None) -> Report:
        """How `code` in place of the target (and `files`, a patch's result) answers the
        recorded calls, against the original."""
        changed = json.dumps(sorted((files or {}).items()))
        key = (self._key(task), hashlib.sha256((code + "\0" + changed).encode()).hexdigest())
        if key not in self._reports:
            self._reports[key] = await self._check(task, code, files)
        return self._reports[key]

    async def _check(self, task, code: str, files: dict[str, str] | None = None) -> Report:
        rec = await self.recording(task)
        report = Report(same=None, recorded=len(rec.calls), not_replayed=dict(rec.not_replayed))
        if rec.error:
            report.note = f"the calls could not be recorded: {rec.error}"
            return report
        if not rec.replayable:
            report.note = (
                "the tests make no call to the target that can be replayed"
                if not rec.calls
                else "no recorded call can be replayed (" + ", ".join(rec.not_replayed) + ")"
            )
            return report
        answers, ran, why, after = await replay(self.evaluator, task, code, rec.replayable, files, lines=True)
        counter = _Counter()
        name = Target.parse(task.target).qualname
        for i, call in enumerate(rec.replayable):
            diff = compare_call(call, answers.get(i), counter)
            if diff is not None:
                what, original, candidate = diff
                if what == "no answer" and why:
                    candidate = f"gave no answer ({why})"
                found = {
                    "call": render_call(name, call),
                    "what": what,
                    "original": original,
                    "candidate": candidate,
                    "index": i,
                    "source": call.get("source", "tests"),
                }
                if call.get("source") == "generated" and what != "no answer":
                    report.generated_difference = report.generated_difference or found
                    continue
                report.same = False
                report.compared = i + 1
                report.difference = {
                    "call": render_call(name, call),
                    "what": what,
                    "original": original,
                    "candidate": candidate,
                    "index": i,
                    "source": call.get("source", "tests"),
                }
                break
        else:
            report.same = True
            report.compared = len(rec.replayable)
        report.generated = sum(c.get("source") == "generated" for c in rec.replayable[: report.compared])
        report.traced = sum(c.get("source") == "trace" for c in rec.replayable[: report.compared])
        report.compared_by_repr = counter.by_repr
        if after and after != rec.original_text:
            report.coverage = coverage(rec.original_text, after, ran)
        return report


def checker(evaluator) -> Equivalence:
    """The evaluator's one Equivalence (created on first use)."""
    found = getattr(evaluator, "_equivalence", None)
    if found is None:
        found = Equivalence(evaluator)
        evaluator._equivalence = found
    return found


async def judge_behaviour(evaluator, task, code: str, ev):
    """The evaluator's hook: a candidate that passes every test under --goal faster must also
    behave like the original on every recorded call, or it is not counted as passing."""
    report = await checker(evaluator).check(task, code)
    ev.equivalence = report.to_dict()
    if report.same is False:
        ev.verdict = "failed"
        ev.message = "\n".join(filter(None, [ev.message, report.summary()]))
    elif report.same is None or (report.coverage or {}).get("thin") or report.generated_difference:
        ev.message = "\n".join(filter(None, [ev.message, report.summary()]))
    return ev
