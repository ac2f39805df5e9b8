"""Aggregate tokens/s of the embedded model: k samples of one prompt generated one after
another (`Llama.create_chat_completion`) against the same k in one batch
(`search.providers.llama_batch`), side by side in one process, for k = 1, 4, 8, with the
wheel's Q4_1 file and with the Q8_0 copy orps loads (search.providers.q8_copy). OpenMP's
threads wait sleeping, as in orps's model process (OMP_WAIT_POLICY=PASSIVE unless set).

    python benchmarks/bench_batch.py [--rounds 2] [--max-tokens 200] [--threads N] [--samples 1,4,8]
                                     [--files q4_1,q8_0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# As in the model's child (search.providers.model_process.worker_environment): OpenMP's
# waiting threads sleep. Spinning, two threads on a busy machine measure the contention, not
# the batch (5-34 tokens/s in no order at load 6.8). Set before llama.cpp loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from search.providers.llama_backend import load_model  # noqa: E402
from search.providers.llama_batch import BatchRequest, generate_batch  # noqa: E402
from search.providers.local import smollm2_path  # noqa: E402
from search.providers.q8_copy import cache_dir, prepare  # noqa: E402

MESSAGES = [
    {"role": "system", "content": "You are a careful Python programmer. Answer with one Python code block."},
    {
        "role": "user",
        "content": "Write a function count_words(text) that returns the number of words in text, "
        "where words are separated by any run of whitespace.",
    },
]


def one_at_a_time(llm, k: int, max_tokens: int) -> tuple[int, float]:
    started, tokens = time.perf_counter(), 0
    for seed in range(k):
        llm.set_seed(seed)
        out = llm.create_chat_completion(messages=MESSAGES, temperature=0.8, max_tokens=max_tokens, seed=seed)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


def batched(llm, k: int, max_tokens: int, threads: int) -> tuple[int, float]:
    started = time.perf_counter()
    outs = generate_batch(
        llm, [BatchRequest(MESSAGES, 0.8, max_tokens, [], seed) for seed in range(k)], n_threads=threads
    )
    return sum(o["usage"]["completion_tokens"] for o in outs), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="llama.cpp threads (default: every core; 1 on a machine busy with other work, where "
        "threads that wait for each other spin)",
    )
    parser.add_argument("--samples", default="1,4,8", help="batch sizes to measure (default 1,4,8)")
    parser.add_argument("--files", default="q4_1,q8_0", help="q4_1 (the wheel's file), q8_0 (orps's copy)")
    args = parser.parse_args()
    threads = args.threads
    shipped = smollm2_path()
    paths = {"q4_1": shipped, "q8_0": prepare(shipped, cache_dir(), print)}
    models = {name: load_model(str(paths[name]), n_ctx=4096, n_threads=threads) for name in args.files.split(",")}
    print(
        f"SmolLM2-135M, {threads} threads, temperature 0.8, up to {args.max_tokens} tokens per sample, "
        f"{args.rounds} rounds, modes and files interleaved (median tok/s of the rounds)"
    )
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    header = "".join(f" {name + ' one at a time':>20} {name + ' one batch':>16} {'ratio':>6}" for name in models)
    print(f"{'samples':>7}{header}")
    for k in (int(x) for x in args.samples.split(",")):
        seq: dict[str, list[float]] = {name: [] for name in models}
        bat: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, llm in models.items():
                tokens, seconds = one_at_a_time(llm, k, args.max_tokens)
                seq[name].append(tokens / seconds)
                tokens, seconds = batched(llm, k, args.max_tokens, threads)
                bat[name].append(tokens / seconds)
        row = ""
        for name in models:
            s, b = statistics.median(seq[name]), statistics.median(bat[name])
            row += f" {s:>20.1f} {b:>16.1f} {b / s:>5.2f}x"
        if {"q4_1", "q8_0"} <= set(models):  # what a round of k samples gains over before the copy
            row += f"   q8_0 batch / q4_1 one at a time {statistics.median(bat['q8_0']) / statistics.median(seq['q4_1']):.2f}x"
        print(f"{k:>7}{row}   (load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
