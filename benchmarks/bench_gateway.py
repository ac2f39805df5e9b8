"""Gateway overhead against calling llama-cpp directly, in one run, on the embedded model.

Prints the local model's tokens/s and, for the same prompts and seeds, the time per call
through `Gateway.complete` (litellm + our accounting) divided by `llama_cpp` directly.
Interleaved (direct, gateway, direct, gateway...) so machine noise hits both alike.

    python benchmarks/bench_gateway.py [--calls 8] [--tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from search.gateway import Gateway, GatewayConfig
from search.providers.local import generate, start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    start("smollm2")
    gateway = Gateway(GatewayConfig(concurrency=1))
    messages = [{"role": "user", "content": "Write a Python function that reverses a string."}]

    async def through_gateway(seed: int) -> tuple[float, int]:
        started = time.perf_counter()
        c = await gateway.complete("local/smollm2", messages, temperature=0.0, max_tokens=args.tokens, seed=seed)
        return time.perf_counter() - started, c.completion_tokens

    def direct(seed: int) -> tuple[float, int]:
        started = time.perf_counter()
        out = generate("smollm2", messages, temperature=0.0, max_tokens=args.tokens, seed=seed)
        return time.perf_counter() - started, out["usage"]["completion_tokens"]

    loop = asyncio.new_event_loop()
    loop.run_until_complete(through_gateway(0))  # warm-up: imports litellm, registers providers
    direct(0)
    d_times, g_times, tokens = [], [], []
    for i in range(args.calls):
        t, n = direct(i)
        d_times.append(t / max(n, 1))
        tokens.append(n)
        t, n = loop.run_until_complete(through_gateway(i))
        g_times.append(t / max(n, 1))
    d, g = statistics.median(d_times), statistics.median(g_times)
    print(
        f"local/smollm2: {1 / d:.1f} tokens/s direct, {1 / g:.1f} tokens/s through the gateway "
        f"({statistics.mean(tokens):.0f} tokens per call, {args.calls} calls each)"
    )
    print(f"gateway overhead per call: {(g / d - 1) * 100:+.1f}% (ratio gateway/direct = {g / d:.3f}; target < 1.05)")


if __name__ == "__main__":
    main()
