"""Tools for Ray benchmarks and tests (benchmarks/bench_ray.py, tests/test_ray*.py).

- `write_dataset`, `write_script`: a tiny dataset and an instant scripted model for it.
- `LocalCluster`: a real multi-node Ray cluster on one machine: a head and more nodes started
  with `ray start`, token authentication on, every node in its own temp dir and on its own
  ports, and a stop that touches only this cluster's processes.

`ray stop --force` cannot be used: it kills every Ray process of the machine (another
engineer's tests, a user's cluster). Instead a node's processes are found by their command
line (which names the node's temp dir, or the cluster's ports) plus their descendants
(workers and agents rename themselves `ray::...`), and killed.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import os, re
MARKER = {marker!r}

def respond(messages, params):
    if MARKER:
        try:
            fd = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os._exit(1)  # the first call anywhere kills its worker process, mid-problem
    if "reviewer" in messages[0]["content"]:
        return "Score: 5/5"
    text = messages[-1]["content"]
    n = int(re.search(r"Return x plus (\\d+)", text).group(1))
    body = f"x + {{n}}" if "negatives" in text else f"abs(x) + {{n}}"  # the second overfits
    return f"```python\\ndef add{{n}}(x):\\n    return {{body}}\\n```"
"""


def write_dataset(root: Path, count: int) -> Path:
    """Problems t/i: `add{i}(x) = x + i`; odd ones hint at negatives (solved), even ones overfit
    the public test and fail the hidden one."""
    root.mkdir(parents=True, exist_ok=True)
    for name, hidden in (("dev.csv", False), ("test.csv", True)):
        with (root / name).open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["task_id", "instruction", "completion", "test_setup", "test_list"])
            w.writeheader()
            for i in range(count):
                tests = [f"assert add{i}(1) == {1 + i}"] + ([f"assert add{i}(-5) == {i - 5}"] if hidden else [])
                w.writerow(
                    {
                        "task_id": f"t/{i}",
                        "instruction": f"Return x plus {i}." + (" (negatives)" if i % 2 else ""),
                        "completion": f"def add{i}(x):\n    return x + {i}\n",
                        "test_setup": "",
                        "test_list": repr(tests),
                    }
                )
    return root


def write_script(path: Path, marker: str = "") -> str:
    path.write_text(SCRIPT.format(marker=marker))
    return f"scripted/{path}"


RAY = str(Path(sys.executable).with_name("ray")) if Path(sys.executable).with_name("ray").exists() else "ray"


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_block(size: int) -> int:
    """The first of `size` consecutive free ports, below the kernel's ephemeral range (where
    `free_ports` picks), so the two never overlap."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 30000 - size)
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no block of {size} free ports")


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry)] = (ppid, cmdline)
    return table


def matching_processes(needles: list[str]) -> set[int]:
    """Processes whose command line contains one of `needles`, and all their descendants."""
    table = _processes()
    found = {pid for pid, (_, cmd) in table.items() if any(n in cmd for n in needles) and pid != os.getpid()}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        grew = bool(children)
        found |= children
    return found


def kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class LocalCluster:
    """`ray start --head` plus `add_node()`s, all under `root`. Use as a context manager."""

    def __init__(self, root: Path, cpus_per_node: int = 1, node_env: dict[str, str] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cpus = cpus_per_node
        self.token_path = self.root / "auth_token"
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.port = free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: dict[str, list[str]] = {}  # name -> what identifies its processes
        self.node_env = node_env or {}

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment that can connect to this cluster (token authentication)."""
        env = dict(os.environ if base is None else base)
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path), RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_AUTH_TOKEN", None)
        env.pop("RAY_ADDRESS", None)
        return env

    def _start(self, name: str, head: bool, env: dict[str, str]) -> None:
        temp = self.root / name  # short: Ray's socket paths must stay under 107 characters
        ports = free_ports(9)
        workers = port_block(41)
        args = [
            RAY,
            "start",
            "--num-cpus",
            str(self.cpus),
            "--temp-dir",
            str(temp),
            "--node-ip-address",
            "127.0.0.1",
            "--node-manager-port",
            str(ports[0]),
            "--object-manager-port",
            str(ports[1]),
            "--min-worker-port",
            str(workers),
            "--max-worker-port",
            str(workers + 40),
            "--dashboard-agent-listen-port",
            str(ports[3]),
            "--dashboard-agent-grpc-port",
            str(ports[4]),
            "--runtime-env-agent-port",
            str(ports[5]),
            "--metrics-export-port",
            str(ports[6]),
            "--disable-usage-stats",
        ]
        if head:
            args += [
                "--head",
                "--port",
                str(self.port),
                "--include-dashboard",
                "false",
                "--dashboard-port",
                str(ports[7]),
                "--ray-client-server-port",
                str(ports[8]),
            ]
        else:
            args += ["--address", self.address]
        self.nodes[name] = [str(temp)] + ([f"--port={ports[8]}", f"--address={self.address}"] if head else [])
        node_env = self.client_env({**os.environ, **env})
        done = subprocess.run(args, env=node_env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed: {done.stderr[-2000:]}")

    def start(self) -> LocalCluster:
        self._start("head", True, {**self.node_env, "ORPS_TEST_NODE": "head"})
        return self

    def add_node(self, name: str) -> None:
        self._start(name, False, {**self.node_env, "ORPS_TEST_NODE": name})

    def wait_for_nodes(self, count: int, timeout: float = 60.0) -> None:
        """Until the head sees `count` live nodes (asked from a subprocess: this process stays Ray-free)."""
        probe = (
            "import ray; ray.init(address='{a}', logging_level='ERROR', log_to_driver=False);"
            "print(sum(n['Alive'] for n in ray.nodes()))"
        ).format(a=self.address)
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            done = subprocess.run(
                [sys.executable, "-c", probe], env=self.client_env(), capture_output=True, text=True, timeout=120
            )
            seen = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
            if seen == str(count):
                return
            time.sleep(1)
        raise TimeoutError(f"the cluster has not {count} live nodes: {seen}")

    def stop_node(self, name: str) -> int:
        """Kill one node's processes (its raylet, agents and workers), as a lost machine. Returns how many."""
        pids = matching_processes(self.nodes.pop(name))
        kill(pids)
        return len(pids)

    def stop(self) -> None:
        for name in list(self.nodes):
            if name != "head":
                self.stop_node(name)
        if "head" in self.nodes:
            self.stop_node("head")

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
