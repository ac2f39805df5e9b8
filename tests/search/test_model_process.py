"""The embedded model's child process under supervision, with a scripted child that speaks
the real protocol (tests/fake_model_worker.py): answers, cancels, crashes by signal, an
out-of-memory kill, a hang, a child that outlives nobody."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from search.providers import model_process
from search.providers.model_process import ModelCrashed, ModelProcess, describe_death, run_call
from tests.support import alive, cli_env, wait_until

FAKE = "tests.fake_model_worker"
REQUEST = {
    "messages": [{"role": "user", "content": "fix count_words"}],
    "temperature": 0.0,
    "max_tokens": 64,
    "stop": None,
    "seed": 0,
}


@pytest.fixture
def fake_worker(monkeypatch, tmp_path):
    """Every child started in this test is the scripted one; the model file is a stand-in."""
    monkeypatch.setattr(model_process, "WORKER_MODULE", FAKE)
    model_process.close_all()
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    yield str(path)
    model_process.close_all()


def busy_child(path: str) -> ModelProcess:
    proc = model_process.process_for(path)
    wait_until(lambda: proc.busy, 10, "the child starting a generation")
    return proc


def test_a_call_is_answered_by_the_child_with_its_timings(fake_worker):
    call = run_call(fake_worker, REQUEST, threading.Event())
    assert "len(text.split())" in call.result["choices"][0]["message"]["content"]
    assert call.load_s is not None and call.gen_s > 0
    proc = model_process.process_for(fake_worker)
    assert proc.info == {"llama_cpp": "fake", "system_info": "CPU : FAKE = 1 |"}
    again = run_call(fake_worker, REQUEST, threading.Event())
    assert again.load_s is None  # the model stays loaded in the same child
    assert model_process.process_for(fake_worker).pid == proc.pid


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGABRT])
def test_a_native_crash_fails_the_call_with_the_signal_and_the_next_call_gets_a_new_child(
    fake_worker, monkeypatch, sig
):
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "2000")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            run_call(fake_worker, REQUEST, threading.Event())
        except BaseException as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    waiter = threading.Thread(target=call)
    waiter.start()
    proc = busy_child(fake_worker)
    proc.proc.send_signal(sig)
    waiter.join(10)
    assert not waiter.is_alive(), "the call still waits on a dead child"
    [err] = errors
    assert isinstance(err, ModelCrashed) and err.cause == "signal" and err.signal_name == sig.name
    assert err.message == f"the embedded model crashed ({sig.name} in llama.cpp)"
    assert "orps doctor" in err.hint
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "0")
    assert run_call(fake_worker, REQUEST, threading.Event()).result is not None
    assert model_process.process_for(fake_worker).pid != proc.pid


def test_sigkill_from_outside_is_reported_as_the_out_of_memory_killer(fake_worker, monkeypatch):
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "2000")
    thread_errors: list[BaseException] = []
    waiter = threading.Thread(target=lambda: _collect(thread_errors, fake_worker))
    waiter.start()
    busy_child(fake_worker).proc.kill()
    waiter.join(10)
    [err] = thread_errors
    assert err.cause == "oom" and "SIGKILL" in err.message and "out-of-memory" in err.message


def _collect(errors: list, path: str) -> None:
    try:
        run_call(path, REQUEST, threading.Event())
    except BaseException as err:  # noqa: BLE001
        errors.append(err)


def test_a_silent_child_is_killed_as_hung(fake_worker, monkeypatch):
    monkeypatch.setattr(model_process, "HANG_AFTER_S", 1.5)
    monkeypatch.setenv("FAKE_MODEL_TOKEN_S", "30")  # no token, no progress line: silence
    with pytest.raises(ModelCrashed) as caught:  # the child would stay silent for 30 s: killed before
        run_call(fake_worker, REQUEST, threading.Event())
    assert caught.value.cause == "hang" and "hung" in caught.value.message


def test_cancel_stops_the_generation_at_a_token_and_keeps_the_child(fake_worker, monkeypatch):
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "2000")
    cancel = threading.Event()
    result: list = []
    waiter = threading.Thread(target=lambda: result.append(run_call(fake_worker, REQUEST, cancel)))
    waiter.start()
    proc = busy_child(fake_worker)
    cancel.set()
    waiter.join(2)
    assert not waiter.is_alive() and result[0].cancelled
    wait_until(lambda: not proc.busy, 5, "the child stopping its generation")
    assert proc.alive  # stopped at a token: the model stays loaded
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "0")
    assert run_call(fake_worker, REQUEST, threading.Event()).result is not None
    assert model_process.process_for(fake_worker).pid == proc.pid


def test_a_child_deaf_to_cancel_is_killed_and_the_other_calls_go_to_a_new_one(fake_worker, monkeypatch):
    monkeypatch.setenv("FAKE_MODEL_TOKEN_S", "5")  # like a long prompt evaluation: no token for seconds
    cancel = threading.Event()
    first: list = []
    waiter = threading.Thread(target=lambda: first.append(run_call(fake_worker, REQUEST, cancel)))
    waiter.start()
    proc = busy_child(fake_worker)
    others: list = []
    queued = threading.Thread(target=lambda: others.append(run_call(fake_worker, REQUEST, threading.Event())))
    queued.start()
    time.sleep(0.2)
    monkeypatch.setenv("FAKE_MODEL_TOKEN_S", "0.01")  # the replacement child answers at once
    cancel.set()
    waiter.join(2)
    assert first and first[0].cancelled
    wait_until(lambda: not alive(proc.pid), 1 + model_process.CANCEL_GRACE_S, "the deaf child being killed")
    queued.join(20)
    assert others and others[0].result is not None, "the queued call was lost with the killed child"


def test_closing_ends_the_calls_in_flight_without_starting_another_child(fake_worker, monkeypatch):
    monkeypatch.setenv("FAKE_MODEL_TOKENS", "100000")  # a generation that would outlast the test
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(run_call(fake_worker, REQUEST, threading.Event())))
    waiter.start()
    proc = busy_child(fake_worker)
    model_process.close_all()
    waiter.join(5)
    assert got and got[0].cancelled, "a call in flight when orps closes must end, not be sent again"
    wait_until(lambda: not alive(proc.pid), 5, "the closed child ending")
    assert not model_process._processes, "closing started another child"


def test_the_child_ends_when_orps_ends_however_it_ends(fake_worker):
    program = textwrap.dedent(f"""
        import os, threading
        from search.providers import model_process
        model_process.WORKER_MODULE = {FAKE!r}
        proc = model_process.process_for({fake_worker!r})
        proc.ready.wait(20)
        print(proc.pid, flush=True)
        os._exit(0)  # no clean-up at all, as after a second Ctrl+C
    """)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=cli_env(), timeout=60)
    child = int(out.stdout.split()[-1])
    wait_until(lambda: not alive(child), 3, "the orphaned model child exiting")


@pytest.mark.parametrize(
    "returncode,cause,needle",
    [
        (-signal.SIGSEGV, None, "crashed (SIGSEGV in llama.cpp)"),
        (-signal.SIGILL, None, "crashed (SIGILL in llama.cpp)"),
        (-signal.SIGKILL, None, "killed (SIGKILL: from outside orps, most often the kernel's out-of-memory killer)"),
        (-signal.SIGKILL, "hang", "hung (no progress in"),
        (1, None, "exited with status 1: MemoryError"),
    ],
)
def test_every_death_is_one_sentence(returncode, cause, needle):
    err = describe_death(returncode, cause, ["loading", "MemoryError", ""])
    assert needle in err.message and "\n" not in err.message
    assert "orps doctor" in err.hint


async def test_a_slow_generation_that_makes_progress_is_not_cut_by_the_call_timeout(fake_worker, monkeypatch):
    """On a busy machine a batch of samples can take longer than any fixed limit: the embedded
    model's calls end on silence (the hang watch above), not on the gateway's wall clock."""
    from search.gateway import Gateway, GatewayConfig

    monkeypatch.setenv("FAKE_MODEL_TOKEN_S", "0.1")  # the answer's dozen tokens take over a second
    gateway = Gateway(GatewayConfig(timeout_s=0.3, retries=0))
    done = await gateway.complete(f"local/{fake_worker}", REQUEST["messages"], max_tokens=64)
    assert "len(text.split())" in done.text


def test_the_childs_openmp_threads_sleep_while_waiting_unless_the_user_said_otherwise(fake_worker, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    proc = model_process.process_for(fake_worker)
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
    assert b"OMP_WAIT_POLICY=PASSIVE" in environ
    assert model_process.worker_environment({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"
