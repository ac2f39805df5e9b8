"""Aggregate tokens/s of the embedded model: k samples of one prompt generated one after
another (`Llama.create_chat_completion`) against the same k in one batch
(`search.providers.llama_batch`), side by side in one process, for k = 1, 4, 8.

    python benchmarks/bench_batch.py [--rounds 2] [--max-tokens 200] [--threads N] [--samples 1,4,8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.providers.llama_backend import load_model  # noqa: E402
from search.providers.llama_batch import BatchRequest, generate_batch  # noqa: E402
from search.providers.local import smollm2_path  # noqa: E402

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
    args = parser.parse_args()
    threads = args.threads
    llm = load_model(str(smollm2_path()), n_ctx=4096, n_threads=threads)
    print(
        f"SmolLM2-135M, {threads} threads, temperature 0.8, up to {args.max_tokens} tokens per sample, "
        f"{args.rounds} rounds, modes interleaved"
    )
    print(f"{'samples':>7} {'one at a time tok/s':>20} {'one batch tok/s':>16} {'ratio':>6}")
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    for k in (int(x) for x in args.samples.split(",")):
        seq, bat = [], []
        for _ in range(args.rounds):
            tokens, seconds = one_at_a_time(llm, k, args.max_tokens)
            seq.append(tokens / seconds)
            tokens, seconds = batched(llm, k, args.max_tokens, threads)
            bat.append(tokens / seconds)
        s, b = statistics.median(seq), statistics.median(bat)
        print(f"{k:>7} {s:>20.1f} {b:>16.1f} {b / s:>5.2f}x   (load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
