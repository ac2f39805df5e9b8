"""A scripted stand-in for the embedded model's child process, for tests of its supervision.

It speaks the real protocol (search.providers.model_worker.serve) with a backend that
"generates" one token every FAKE_MODEL_TOKEN_S seconds and answers with the demo example's
fix, so a test can kill it mid-generation, cancel it, or let it finish in a second.

    python -m tests.fake_model_worker MODEL_PATH [--ctx N --threads N]

`use_in_this_process()` makes the local provider of the calling process start this module
instead of the real worker (used by `python -c` wrappers around the CLI in tests).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from search.providers import model_worker

FIX = "```python\ndef count_words(text):\n    return len(text.split())\n```"


class FakeBackend:
    def __init__(self):
        self.loaded = False

    def info(self):
        return {"llama_cpp": "fake", "system_info": "CPU : FAKE = 1 |"}

    def generate(self, request, should_stop, on_token):
        load_s = None
        if not self.loaded:
            self.loaded, load_s = True, 0.01
        words = FIX.split(" ")
        delay = float(os.environ.get("FAKE_MODEL_TOKEN_S", "0.01"))
        tokens = max(len(words), int(os.environ.get("FAKE_MODEL_TOKENS", "0")))
        for n in range(1, tokens + 1):
            time.sleep(delay)
            if os.environ.get("FAKE_MODEL_SIGNAL"):  # dies as llama.cpp would, mid-generation
                os.kill(os.getpid(), getattr(signal, os.environ["FAKE_MODEL_SIGNAL"]))
            on_token(n)
            if should_stop():
                break
        usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
        return {"choices": [{"message": {"content": FIX}, "finish_reason": "stop"}], "usage": usage}, load_s


class FakeBatchingBackend(FakeBackend):
    """Answers a batch's requests together, saying in each answer how many requests it was
    sent with and which function it was told the answer writes.

    FAKE_MODEL_SCRIPT (JSON, a list by place in the batch: requests are sorted by seed) makes
    request i answer `text` after `tokens` steps of FAKE_MODEL_TOKEN_S each, as a real batch:
    each answer is handed on (`on_finish`) at the step it ends, a cancel ends its request at
    its next step, and the others go on."""

    def generate_batch(self, requests, should_stop, on_token, on_finish):
        script = json.loads(os.environ.get("FAKE_MODEL_SCRIPT") or "[]")
        if not script:
            outs = []
            for i, request in enumerate(requests):
                out, _ = self.generate(request, lambda i=i: should_stop(i), on_token)
                out["choices"][0]["message"]["content"] = self.label(requests, request, FIX)
                outs.append(out)
                on_finish(i, out)
            return outs, None
        delay = float(os.environ.get("FAKE_MODEL_TOKEN_S", "0.01"))
        outs = [None] * len(requests)
        step = 0
        while any(out is None for out in outs):
            time.sleep(delay)
            step += 1
            on_token(step)
            for i, request in enumerate(requests):
                if outs[i] is not None:
                    continue
                mine = script[i % len(script)]
                stopped = should_stop(i)
                if stopped or step >= mine["tokens"]:
                    text = "" if stopped else self.label(requests, request, mine["text"])
                    usage = {"prompt_tokens": 10, "completion_tokens": step, "total_tokens": 10 + step}
                    outs[i] = {
                        "choices": [
                            {"message": {"content": text}, "finish_reason": "cancelled" if stopped else "stop"}
                        ],
                        "usage": usage,
                    }
                    on_finish(i, outs[i])
        return outs, None

    @staticmethod
    def label(requests, request, text):
        return f"batch of {len(requests)}, seed {request.get('seed')}, code for {request.get('code_for')}\n{text}"


def use_in_this_process() -> None:
    from search.providers import model_process

    model_process.WORKER_MODULE = "tests.fake_model_worker"


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(f"fake model worker for {sys.argv[1:2]}", file=sys.stderr)
    model_worker.serve(FakeBatchingBackend() if os.environ.get("FAKE_MODEL_BATCHES") else FakeBackend())
