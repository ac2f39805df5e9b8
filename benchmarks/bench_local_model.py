"""The embedded model's tokens/s, side by side in one run: in this process against in its
supervised child process (what orps does), and optionally other builds and settings.

Modes, each measured on the same prompt, seed and token cap, interleaved round by round
(the order rotates) so that the machine's noise hits all alike:
- `in-process`: llama-cpp in this process, extra buffer types off (what orps did before);
- `child`: the model's child process through search.providers.model_process (what orps
  does now), timed from here, so the pipe and the JSON are included;
- `child, extra buffer types on` (`--extra-bufts`): llama.cpp's default, which crashes
  on CPUs that report AMX without granting it: run in its child, so a crash is reported
  as such instead of ending the benchmark;
- `child, other build` (`--other-python PATH`): a Python whose llama-cpp-python was
  built otherwise (e.g. CMAKE_ARGS="-DGGML_NATIVE=OFF"), extra buffer types off.

    python benchmarks/bench_local_model.py [--rounds 5] [--tokens 96] [--extra-bufts]
        [--other-python /path/to/venv/bin/python --other-label "GGML_NATIVE=OFF"]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from search.providers import llama_backend, model_process
from search.providers.local import CONTEXT_TOKENS, smollm2_path

MESSAGES = [{"role": "user", "content": "Write a Python function that returns the number of words in a text."}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--extra-bufts", action="store_true", help="also the native build with extra buffer types on")
    ap.add_argument("--other-python", help="a Python with another llama-cpp-python build")
    ap.add_argument("--other-label", default="other build")
    ap.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="llama.cpp threads (default: every core; 1 on a busy machine, where waiting threads spin)",
    )
    args = ap.parse_args()
    path = str(smollm2_path().resolve())
    threads = args.threads
    request = {"messages": MESSAGES, "temperature": 0.0, "max_tokens": args.tokens, "stop": None, "seed": 0}

    llm = llama_backend.load_model(path, n_ctx=CONTEXT_TOKENS, n_threads=threads)

    def in_process() -> tuple[float, int]:
        started = time.perf_counter()
        out = llama_backend.chat(llm, MESSAGES, temperature=0.0, max_tokens=args.tokens, seed=0)
        return time.perf_counter() - started, out["usage"]["completion_tokens"]

    children: list[model_process.ModelProcess] = []
    overhead: dict[int, list[tuple[float, float]]] = {}

    def in_child(proc: model_process.ModelProcess):
        children.append(proc)

        def call() -> tuple[float, int]:
            started = time.perf_counter()
            c = proc.submit(request)
            c.wait()
            if c.error is not None:
                raise c.error
            wall = time.perf_counter() - started
            overhead.setdefault(proc.pid, []).append((wall - c.gen_s, wall))  # what the child did not spend generating
            return wall, c.result["usage"]["completion_tokens"]

        return call

    modes = {
        "in-process": in_process,
        "child": in_child(model_process.ModelProcess(path, n_ctx=CONTEXT_TOKENS, n_threads=threads)),
    }
    if args.extra_bufts:
        modes["child, extra buffer types on"] = in_child(
            model_process.ModelProcess(
                path, n_ctx=CONTEXT_TOKENS, n_threads=threads, extra_args=("--extra-buffer-types",)
            )
        )
    if args.other_python:
        modes[f"child, {args.other_label}"] = in_child(
            model_process.ModelProcess(path, n_ctx=CONTEXT_TOKENS, n_threads=threads, python=args.other_python)
        )

    failed: dict[str, str] = {}
    for name, measure in list(modes.items()):  # warm-up: loads, first-call setup
        try:
            measure()
        except model_process.ModelCrashed as err:
            failed[name] = err.message
            del modes[name]
    rates: dict[str, list[float]] = {name: [] for name in modes}
    names = list(modes)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if name in failed:
                continue
            try:
                seconds, tokens = modes[name]()
            except model_process.ModelCrashed as err:
                failed[name] = err.message
                continue
            rates[name].append(tokens / seconds)
    print(
        f"local/smollm2, {args.tokens} tokens per call, {threads} threads, {args.rounds} rounds, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(llama_backend.system_info())
    base = statistics.median(rates["in-process"]) if rates.get("in-process") else None
    for name in names:
        if name in failed:
            print(f"  {name:<42} {failed[name]}")
            continue
        median = statistics.median(rates[name])
        versus = f"  ({median / base:.3f}x in-process)" if base and name != "in-process" else ""
        print(f"  {name:<42} {median:6.1f} tokens/s median, {min(rates[name]):.1f}-{max(rates[name]):.1f}{versus}")
    # The cost of the isolation itself, robust to a busy machine: per call, the parent's wall
    # time minus the time the child measured for its own generation (pipe, JSON, scheduling).
    measured = [c for calls in overhead.values() for c in calls[1:]]  # the first call also waits for the start
    costs = [cost for cost, _ in measured]
    shares = [cost / wall for cost, wall in measured if wall > 0]
    if costs:
        print(
            f"  isolation cost per call (parent's wall time - the child's own generation time): median "
            f"{statistics.median(costs) * 1000:.1f} ms, {statistics.median(shares) * 100:.2f}% of the call "
            f"(max {max(shares) * 100:.2f}%), over {len(costs)} calls"
        )
    for proc in children:
        proc.close()


if __name__ == "__main__":
    main()
