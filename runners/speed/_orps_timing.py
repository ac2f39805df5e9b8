"""Time the original and a candidate on the recorded inputs, interleaved, in one sandboxed run.

`python -I _orps_timing.py MODULE ORIGINAL_MODULE QUALNAME INPUTS.json REPEATS BUDGET_S COPIES`, with
the project's paths in ORPS_PROJECT_PATHS and the result pipe's write end in ORPS_TIMING_FD.

This parent process never imports the project: it starts two children (the same script with
`--child`), one with the original (ORIGINAL_MODULE: the original file placed beside the
target) and one with the candidate (MODULE), and times each batch on its own clock, from
"go" to "done". A child cannot touch this process's clock or its result pipe (not
inherited). Per batch a child runs every recorded call N times on fresh copies of the
arguments, made before "go" (COPIES=shared: the original changes no argument in place, so one
copy serves every loop; a candidate that does change one differs from the original and is
never timed). N is calibrated on the original (as timeit's autorange: the
first doubling that takes 20 ms or more); then REPEATS batches of each, in alternating
order (original first, then candidate first), so that a slow moment of the machine falls
on both. The result: every batch's seconds, for orps to take the minimum and the spread.

Before and after the timed batches each child answers every call once more and sends a
digest of its answers: a candidate that answers differently while it is timed (it could
tell the timing run from the replay) is caught here, since it cannot know the original's
digest without computing the original's answers.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves our own directory out (-P)
import time

CLOCK = time.perf_counter  # bound before anything else runs here
TARGET_BATCH_S = 0.02
MAX_LOOPS = 1 << 20


def child(module_name: str, qualname: str, inputs_file: str, copies: str = "fresh") -> int:
    import hashlib
    import importlib

    from _orps_values import decode, encode

    with open(inputs_file) as f:
        calls = json.load(f)
    paths = [p for p in os.environ.get("ORPS_PROJECT_PATHS", "").split(os.pathsep) if p]
    sys.path[1:1] = paths + [os.getcwd()]
    func = importlib.import_module(module_name)
    for part in qualname.split("."):
        func = getattr(func, part)
    reply = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol's own stream
    sys.stdout = sys.stderr  # what the target prints cannot be taken for an answer
    prepared: list = []
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word == "prep":
            fresh = [
                ([decode(a) for a in c["args"]], {k: decode(v) for k, v in c["kwargs"].items()})
                for _ in range(1 if copies == "shared" else int(arg))
                for c in calls
            ]
            prepared = fresh * int(arg) if copies == "shared" else fresh
            reply.write("ready\n")
        elif word == "go":
            for args, kwargs in prepared:
                try:
                    func(*args, **kwargs)  # type: ignore[operator]  # the target, reached by getattr from its module
                except Exception:  # noqa: BLE001 - the original raises on some inputs too
                    pass
            reply.write("done\n")
        elif word == "answers":
            digest = hashlib.sha256()
            for c in calls:
                args, kwargs = [decode(a) for a in c["args"]], {k: decode(v) for k, v in c["kwargs"].items()}
                try:
                    answer = {"returned": encode(func(*args, **kwargs))}  # type: ignore[operator]  # the target, reached by getattr from its module
                except Exception as err:  # noqa: BLE001 - an exception is an answer
                    answer = {"raised": type(err).__qualname__}
                digest.update(json.dumps([answer, [encode(a) for a in args]], sort_keys=True).encode())
            reply.write(digest.hexdigest() + "\n")
        else:
            return 0
    return 0


class Side:
    def __init__(self, module: str, qualname: str, inputs_file: str, copies: str):
        env = {k: v for k, v in os.environ.items() if k != "ORPS_TIMING_FD"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), "--child", module, qualname, inputs_file, copies],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
            close_fds=True,
        )

    def ask(self, line: str, want: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None  # pipes
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        got = self.proc.stdout.readline().strip()
        if got != want:
            raise RuntimeError(f"the {line.split()[0]} step answered {got!r}")

    def answers(self) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None  # pipes
        self.proc.stdin.write("answers\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def batch(self, loops: int) -> float:
        self.ask(f"prep {loops}", "ready")
        start = CLOCK()
        self.ask("go", "done")
        return CLOCK() - start

    def close(self) -> None:
        assert self.proc.stdin is not None  # a pipe
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> int:
    if sys.argv[1] == "--child":
        return child(*sys.argv[2:6])
    module, original_module, qualname, inputs_file, repeats, budget, copies = sys.argv[1:8]
    out = os.fdopen(int(os.environ["ORPS_TIMING_FD"]), "w", buffering=1)
    sides = {
        "original": Side(original_module, qualname, inputs_file, copies),
        "candidate": Side(module, qualname, inputs_file, copies),
    }
    try:
        if sides["original"].answers() != sides["candidate"].answers():
            raise RuntimeError("the candidate answers differently in the timing run than the original")
        loops = 1
        while True:
            spent = sides["original"].batch(loops)
            if spent >= TARGET_BATCH_S or loops >= MAX_LOOPS:
                break
            loops *= 2
        times: dict = {"original": [], "candidate": []}
        repeat_count, budget_s = int(repeats), float(budget)
        started = CLOCK()
        for r in range(repeat_count):
            order = ("original", "candidate") if r % 2 == 0 else ("candidate", "original")
            for name in order:
                times[name].append(sides[name].batch(loops))
            if r >= 4 and CLOCK() - started > budget_s:  # a slow target: fewer repeats, at least five
                break
        if sides["original"].answers() != sides["candidate"].answers():
            raise RuntimeError("the candidate answers differently in the timing run than the original (after timing)")
        out.write(json.dumps({"type": "timing", "loops": loops, **times}) + "\n")
    except (RuntimeError, OSError, ValueError) as err:
        out.write(json.dumps({"type": "error", "message": f"timing stopped: {err}"}) + "\n")
        return 3
    finally:
        for side in sides.values():
            side.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
