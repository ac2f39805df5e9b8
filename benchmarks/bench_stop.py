"""How fast Ctrl+C and q end a search with the embedded model, headless and in a real terminal.

On a copy of the bundled example (the demo's function and settings), for each delay
D: start the search, wait D seconds into it (the model is then loading, evaluating a prompt
or generating), then
- headless `orps solve --headless`: send SIGINT, time until the process has exited (130);
- the TUI `orps solve` in tmux (120x36): send Ctrl+C, time until the review screen shows,
  then `q`, time until the process has exited (0).
A second after each exit it lists any process still running in the copy (model worker,
sandbox, pytest): there should be none. The issue's target is 1 s on an idle machine.

    python benchmarks/bench_stop.py [--delays 1,4,8] [--model local/smollm2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from orps_tui.commands.demo import EXAMPLE, TARGET  # noqa: E402 - the demo's example and function


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def alive_in(folder: Path) -> list[str]:
    """Command lines of processes whose command line or working directory is in `folder`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(folder) in cmd or cwd.startswith(str(folder)):
            found.append(f"{pid} {cmd[:100]}")
    return found


def headless(project: Path, delay: float, model: str) -> str:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "solve",
            "--target",
            TARGET,
            "--headless",
            "--model",
            model,
            "--no-cache",
        ],
        cwd=project,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell's background job inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in proc.stderr:  # the search has started once it prints its plan
        if line.startswith("plan:"):
            break
    rest = threading.Thread(target=proc.stderr.read, daemon=True)  # keep the pipe drained
    rest.start()
    time.sleep(delay)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    code = proc.wait()
    took = time.perf_counter() - sent
    time.sleep(1)
    left = alive_in(project)
    return f"exit {code} {took:.2f} s after Ctrl+C; {len(left)} processes left 1 s later {left or ''}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def wait_screen(session: str, needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in tmux("capture-pane", "-p", "-t", session):
            return True
        time.sleep(0.02)
    return False


def in_tmux(project: Path, delay: float, model: str) -> str:
    session, ended = f"orps-stop-{uuid.uuid4().hex[:6]}", project / ".exit-time"
    command = (
        f"cd {project} && PYTHONPATH={ROOT} {sys.executable} -m orps_tui.cli solve --target {TARGET} "
        f"--model {model} --no-cache; {sys.executable} -c 'import time; print(time.time())' > {ended}; "
        "sleep 60"
    )
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    try:
        if not wait_screen(session, "searching", 60):
            return "the search screen never showed"
        time.sleep(delay)
        sent = time.perf_counter()
        tmux("send-keys", "-t", session, "C-c")
        if not wait_screen(session, "orps · review", 30):
            return "the review never showed after Ctrl+C"
        review = time.perf_counter() - sent
        quit_at = time.time()
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while not (ended.exists() and ended.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not ended.exists():
            return f"review {review:.2f} s after Ctrl+C; no exit within 30 s of q"
        exit_s = float(ended.read_text()) - quit_at
        time.sleep(1)
        left = [p for p in alive_in(project) if "sleep 60" not in p and "tmux" not in p]
        return (
            f"review {review:.2f} s after Ctrl+C; exit {exit_s:.2f} s after q; "
            f"{len(left)} processes left 1 s later {left or ''}"
        )
    finally:
        tmux("kill-session", "-t", session)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delays", default="1,4,8", help="seconds into the search to press Ctrl+C")
    ap.add_argument("--model", default="local/smollm2")
    args = ap.parse_args()
    delays = [float(d) for d in args.delays.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; model {args.model}")
    with tempfile.TemporaryDirectory(prefix="orps-stop-") as tmp:
        for n, delay in enumerate(delays):
            project = Path(tmp) / f"h{n}"
            shutil.copytree(EXAMPLE, project)
            print(f"headless, Ctrl+C {delay:g} s in: {headless(project, delay, args.model)}", flush=True)
        if shutil.which("tmux") is None:
            print("tmux is not installed: the TUI figures are skipped")
            return
        for n, delay in enumerate(delays):
            project = Path(tmp) / f"t{n}"
            shutil.copytree(EXAMPLE, project)
            print(f"TUI in tmux, Ctrl+C {delay:g} s in: {in_tmux(project, delay, args.model)}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
