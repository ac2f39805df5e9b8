"""A model call that a cancel cannot interrupt (llama.cpp evaluating a prompt) must not hold
the process: after the cancel, `asyncio.run` (and Textual's `App.run`, which uses it) returns
at once instead of joining the call's thread. Found in the TUI: `q` after Ctrl+C took 12.9 s."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support import cli_env

BLOCKED_S = 6.0

PROGRAM = textwrap.dedent(f"""
    import asyncio, time
    import search.providers.local as local
    import search.providers.scripted as scripted

    def deaf(*args, **kwargs):  # like a prompt evaluation: blocks and never looks at the cancel flag
        time.sleep({BLOCKED_S})
        raise AssertionError("nobody waits for this")

    local.generate = deaf
    scripted.register_script("deaf", lambda messages, params: deaf())

    async def cancelled(call):
        task = asyncio.ensure_future(call)
        await asyncio.sleep(0.3)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def main():
        args = ([{{"role": "user", "content": "hi"}}], None, None, None, None, None, None, None, {{}})
        await cancelled(local.LocalLLM().acompletion("smollm2", *args))
        await cancelled(scripted.ScriptedLLM().acompletion("deaf", *args))

    started = time.perf_counter()
    asyncio.run(main())
    print(round(time.perf_counter() - started, 2))
""")


def test_a_cancelled_blocking_model_call_does_not_hold_asyncio_run():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=cli_env(),
                         timeout=60)
    assert out.returncode == 0, out.stderr
    elapsed = float(out.stdout.split()[-1])
    assert elapsed < BLOCKED_S / 2, f"asyncio.run waited {elapsed} s for the abandoned model threads"
