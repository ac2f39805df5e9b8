"""A model call that a cancel cannot interrupt (llama.cpp evaluating a prompt) must not hold
the process: after the cancel, `asyncio.run` (and Textual's `App.run`, which uses it) returns
while the call's thread is still blocked, instead of joining it (in the TUI: `q` after Ctrl+C
ends the app without waiting for the prompt evaluation)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support import cli_env

BLOCKED_S = 120.0  # longer than the test waits for the program: joining the threads fails it

PROGRAM = textwrap.dedent(f"""
    import asyncio, os, sys, threading, time
    finished = []
    import search.providers.local as local
    import search.providers.local_litellm as local_litellm
    import search.providers.scripted as scripted

    def deaf(*args, **kwargs):  # like a prompt evaluation: blocks and never looks at the cancel flag
        time.sleep({BLOCKED_S})
        finished.append(threading.current_thread().name)
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
        await cancelled(local.complete("smollm2", [{{"role": "user", "content": "hi"}}]))
        await cancelled(local_litellm.LocalLLM().acompletion("smollm2", *args))
        await cancelled(scripted.ScriptedLLM().acompletion("deaf", *args))

    asyncio.run(main())
    print(len(finished))  # blocked calls that had ended when asyncio.run returned
    sys.stdout.flush()
    os._exit(0)  # the abandoned threads are still sleeping: do not wait for them at exit either
""")


def test_a_cancelled_blocking_model_call_does_not_hold_asyncio_run():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "0", "asyncio.run waited for the abandoned model threads"
