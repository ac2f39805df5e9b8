"""The TUI's longest event-loop stall during a real sandboxed search, and where it happened.

Runs the whole TUI headless (`App.run_test`) on a copy of the sample project (padded with
`--files` small data files, so walks and copies cost something) with a scripted model and
the real `SandboxEvaluator`, driven as a user would: the start screen lists the functions
and checks the highlighted one's tests, `t` checks them all, `s` starts a search on
slugify, the search runs to its review screen.

A ticker on the app's event loop wakes every 5 ms and records the gap since its last
wake; a watchdog thread samples the loop thread's stack while a gap is growing past
`--sample-ms`, so each long stall comes with the code that held the loop. Printed, each
with its phase: the longest gap in wall clock (less the 5 ms tick); the longest gap
without the time the kernel kept the loop thread waiting for a CPU while it was ready
to run (Linux schedstat: on a loaded machine, and under `nice`, that queueing is most of
a wall-clock gap and says nothing about the TUI); the longest in CPU time of the loop
thread. What is left without queueing is the loop's own work plus what it blocked on
(file I/O, sleeps, locks, the GIL): the figure the TUI is responsible for. The five
longest by the last two measures come with the places the loop was sampled in. One
frame at 60 Hz is 16.7 ms; the target is under 50 ms.

With `--litellm` the model is called through litellm, over HTTP, at an OpenAI-compatible
server that answers the same script from a process of its own: the first search then
also pays litellm's first import and first call (2-3 s of imports in a thread), as a
user's first search with a hosted model does.

    python benchmarks/bench_tui_stall.py [--files 2000] [--runs 1] [--litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "sample_project"  # data, copied; nothing imported from tests/
TARGET = "src/textkit/words.py::slugify"
TICK = 0.005
OURS = ("orps_tui", "runners", "search")

SLUGIFY = (
    "## Reasoning\nUse a regex for runs.\n\n## Code\n```python\nimport re\n\ndef slugify(title):\n"
    "    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n```\n"
)


def respond(messages, params):
    if "reviewer" in messages[0]["content"]:
        return "Correct.\nScore: 5/5"
    return SLUGIFY if "`slugify`" in messages[-1]["content"] else "I do not know."


def start_model_server():
    """A process serving `respond` as an OpenAI-compatible endpoint (search.providers.openai_server) and its base URL, once it accepts connections."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]; import bench_tui_stall as b; from search.providers.openai_server import serve_forever; serve_forever(b.respond, {port})"
    server = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("the model server did not start")
            time.sleep(0.05)


def runqueue_wait() -> float:
    """Seconds the calling thread has spent ready to run but waiting for a CPU (Linux
    schedstat); 0 where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class Stall:
    gap_s: float
    cpu_s: float
    phase: str
    queued_s: float = 0.0
    """of the gap, the time the loop thread was ready but the machine ran something else"""
    samples: list[list[str]] = field(default_factory=list)
    """stacks of the loop thread taken every 5 ms while the gap grew past the threshold"""

    @property
    def own_s(self) -> float:
        """The gap less the time the machine kept the loop thread waiting for a CPU: the
        loop's own work and what it blocked on (I/O, sleeps, locks, the GIL)."""
        return max(0.0, self.gap_s - self.queued_s)

    def where(self) -> list[str]:
        """Each distinct place the samples found the loop in (our innermost frame and the
        innermost frame), most frequent first, with how many samples found it there."""
        places: dict[str, int] = {}
        for stack in self.samples:
            ours = [line for line in stack if line.split(os.sep)[0] in OURS]
            place = " > ".join(dict.fromkeys([*ours[-2:], stack[-1]])) if stack else "?"
            places[place] = places.get(place, 0) + 1
        return [f"{n}x {place}" for place, n in sorted(places.items(), key=lambda item: -item[1])]


class StallMeter:
    """A 5 ms ticker on the running loop plus a watchdog thread that samples the loop
    thread's stack while a tick is late."""

    def __init__(self, sample_ms: float):
        self.sample_s = sample_ms / 1000
        self.phase = "starting"
        self.stalls: list[Stall] = []
        self._last = time.perf_counter()
        self._samples: list[list[str]] = []
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()

    async def tick(self) -> None:
        last_cpu, last_queued = time.thread_time(), runqueue_wait()
        self._last = time.perf_counter()
        while not self._stop.is_set():
            await asyncio.sleep(TICK)
            now, cpu, queued = time.perf_counter(), time.thread_time(), runqueue_wait()
            gap = now - self._last - TICK
            if gap > 0.002:
                self.stalls.append(Stall(gap, cpu - last_cpu, self.phase, queued - last_queued, self._samples))
            self._samples = []
            self._last, last_cpu, last_queued = now, cpu, queued

    def watch(self) -> None:
        taken = 0.0
        while not self._stop.wait(0.002):
            now = time.perf_counter()
            if now - self._last > self.sample_s and now - taken >= TICK:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    self._samples.append(where(frame))
                    taken = now

    def start(self) -> asyncio.Task:
        threading.Thread(target=self.watch, daemon=True).start()
        return asyncio.get_running_loop().create_task(self.tick())

    def stop(self) -> None:
        self._stop.set()


def where(frame) -> list[str]:
    """The stack as `file:line function`, our own code marked, the innermost frames last:
    our frames plus the two innermost (the blocking call itself)."""
    frames = traceback.extract_stack(frame)
    lines = []
    for i, f in enumerate(frames):
        rel = os.path.relpath(f.filename, ROOT) if f.filename.startswith(str(ROOT)) else Path(f.filename).name
        if rel.split(os.sep)[0] in OURS or i >= len(frames) - 2:
            lines.append(f"{rel}:{f.lineno} {f.name}")
    return lines


def make_project(root: Path, files: int) -> Path:
    project = root / "proj"
    shutil.copytree(SAMPLE, project)
    for i in range(files):
        folder = project / "data" / f"d{i // 500}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"row {i}\n" * 10)
    return project


async def wait_for(pilot, predicate, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting; screen is {pilot.app.screen!r}")
        await pilot.pause(0.05)


async def one_run(project: Path, sample_ms: float, api_base: str = "") -> StallMeter:
    from orps_tui.app import make_app
    from orps_tui.screens.review import ReviewScreen
    from orps_tui.screens.search import SearchScreen
    from orps_tui.screens.start import StartScreen
    from search.settings import SearchSettings

    model = "openai/stall" if api_base else "scripted/stall"
    settings = SearchSettings(model=model, api_base=api_base, samples=2, beam=1, rounds=2, cache=False, timeout_s=20)
    app = make_app(project, target=TARGET, settings=settings)
    meter = StallMeter(sample_ms)
    if os.environ.get("PYTHONASYNCIODEBUG"):
        asyncio.get_running_loop().slow_callback_duration = float(os.environ.get("STALL_DEBUG_MS", "50")) / 1000
    async with app.run_test(size=(120, 36)) as pilot:
        ticker = meter.start()
        meter.phase = "start screen: scan and check the highlighted function"
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.functions)
        start = app.screen
        await wait_for(pilot, lambda: TARGET in start.checked)
        meter.phase = "start screen: t (check all)"
        await pilot.press("t")
        # Done when it says so (on an idle machine its worker can end before a poll sees it).
        await wait_for(pilot, lambda: any(n.message.startswith("Checked:") for n in app._notifications))
        meter.phase = "search: s to the review screen"
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, (SearchScreen, ReviewScreen)))
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        meter.phase = "review"
        await pilot.pause(0.5)
        meter.stop()
        await ticker
    return meter


def report(meters: list[StallMeter]) -> None:
    stalls = [s for m in meters for s in m.stalls]
    if not stalls:
        print("no stall above 2 ms")
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {len(stalls)} gaps over 2 ms")
    rankings = (
        ("wall clock", lambda s: s.gap_s),
        ("without CPU queueing", lambda s: s.own_s),
        ("loop-thread CPU", lambda s: s.cpu_s),
    )
    for title, key in rankings:
        worst = max(stalls, key=key)
        over = sum(1 for s in stalls if key(s) > 0.05)
        print(
            f"longest stall, {title}: {key(worst) * 1000:.1f} ms (wall {worst.gap_s * 1000:.1f}, queued for a "
            f"CPU {worst.queued_s * 1000:.1f}, CPU {worst.cpu_s * 1000:.1f}) during {worst.phase}; "
            f"{over} over 50 ms"
        )
    for title, key in rankings[1:]:
        print(f"five longest {title} (ms: wall, queued, CPU; phase; where the samples found the loop):")
        for s in sorted(stalls, key=lambda s: -key(s))[:5]:
            print(f"  {s.gap_s * 1000:7.1f} {s.queued_s * 1000:7.1f} {s.cpu_s * 1000:7.1f}  {s.phase}")
            for line in (s.where() or ["(not sampled: shorter than the sampling threshold)"])[:4]:
                print(f"          {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000, help="extra small files in the project (default 2000)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--sample-ms", type=float, default=15.0, help="sample the stack of gaps longer than this")
    ap.add_argument(
        "--litellm",
        action="store_true",
        help="call the model through litellm at a local OpenAI-compatible server (first import included)",
    )
    ap.add_argument(
        "--asyncio-debug",
        type=float,
        metavar="MS",
        help="also let asyncio log every callback or task step longer than MS (debug mode: slower)",
    )
    args = ap.parse_args()
    if args.asyncio_debug:
        import logging

        logging.basicConfig(level=logging.WARNING, format="asyncio: %(message)s")
        os.environ["PYTHONASYNCIODEBUG"] = "1"
        os.environ["STALL_DEBUG_MS"] = str(args.asyncio_debug)
    sys.path.insert(0, str(ROOT))
    if not args.litellm:  # (the scripted provider imports litellm: not before the first search here)
        from search.providers.scripted import register_script

        register_script("stall", respond)
    server, api_base = start_model_server() if args.litellm else (None, "")
    if server is not None:
        os.environ.setdefault("OPENAI_API_KEY", "sk-orps-stall-bench")  # the local server checks none
    imported_before = "litellm" in sys.modules  # else the first run's search imports it
    meters = []
    try:
        with tempfile.TemporaryDirectory(prefix="orps-stall-") as tmp:
            for n in range(args.runs):
                project = make_project(Path(tmp) / f"run{n}", args.files)
                started = time.perf_counter()
                meters.append(asyncio.run(one_run(project, args.sample_ms, api_base), debug=bool(args.asyncio_debug)))
                print(
                    f"run {n + 1}: {time.perf_counter() - started:.1f} s, "
                    f"longest stall {max((s.gap_s for s in meters[-1].stalls), default=0) * 1000:.1f} ms"
                )
    finally:
        if server is not None:
            server.kill()
    if args.litellm:
        print(
            "model: through litellm at a local OpenAI-compatible server"
            f" (litellm first imported during the first search: {'no' if imported_before else 'yes'})"
        )
    report(meters)


if __name__ == "__main__":
    main()
