"""orps on a real two-node Ray cluster started with `ray start` (token authentication on), on one
machine: each node has its own temp dir and ports, and only this cluster's processes are ever
stopped (see benchmarks/raykit.py).

The model is a real litellm provider (`openai/gpt-4o-mini`) whose api base is a small fake
OpenAI server in this process: it answers only with the right key, which only the driver's
environment holds, so a passing run proves the key reached the workers. The nodes were started
without it. Nothing reaches the internet.

Kept small for CI (2 cores): 1 CPU per node, 4 tiny problems, every command a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from benchmarks.raykit import LocalCluster, write_dataset  # noqa: E402
from search.providers.openai_server import serving  # noqa: E402
from tests.runners.test_ray import per_problem  # noqa: E402

pytestmark = pytest.mark.slow

KEY = "sk-orps-cluster-test"
SETTINGS = ["--samples", "2", "--beam", "1", "--rounds", "1"]


def answer(messages: list[dict]) -> str:
    """The same answers as tests/runners/test_ray.py's script: odd problems solved, even ones overfit."""
    import re

    if "reviewer" in messages[0]["content"]:
        return "Score: 5/5"
    text = messages[-1]["content"]
    found = re.search(r"Return x plus (\d+)", text)
    if not found:
        return "OK"
    n = int(found.group(1))
    body = f"x + {n}" if "negatives" in text else f"abs(x) + {n}"
    return f"```python\ndef add{n}(x):\n    return {body}\n```"


KEYS_SENT: list[str] = []
"""The key of every request the fake OpenAI server received."""


@pytest.fixture(scope="module")
def server():
    with serving(lambda messages, params: answer(messages), api_key=KEY, keys=KEYS_SENT) as base:
        yield base


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # short root: Ray's unix socket paths under it must stay below 107 characters
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"orps-rc-{os.getpid()}"
    hidden = {k: "" for k in os.environ if k.startswith("OPENAI_")}
    c = LocalCluster(root, cpus_per_node=1, node_env=hidden)
    try:
        c.start()
        c.add_node("second")
        c.wait_for_nodes(2)
        yield c
    finally:
        c.stop()  # whatever happened: this cluster's processes only
        shutil.rmtree(root, ignore_errors=True)


def orps(cluster: LocalCluster | None, *args: str, key: str = KEY, timeout: float = 600) -> subprocess.CompletedProcess:
    env = cluster.client_env() if cluster else dict(os.environ)
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    if key:
        env["OPENAI_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "orps_tui.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def bench(cluster, tmp: Path, dataset: Path, model_args: list[str], *extra: str, key: str = KEY):
    out = tmp / "out"
    done = orps(
        cluster,
        "bench",
        "--dataset",
        str(dataset),
        *model_args,
        *SETTINGS,
        "--out",
        str(out),
        "--json",
        str(tmp / "report.json"),
        *extra,
        key=key,
    )
    return done, out


def test_bench_on_two_nodes_equals_local_with_the_key_sent_to_the_workers(cluster, server, tmp_path):
    dataset = write_dataset(tmp_path / "ds", 4)
    model = ["--model", "openai/gpt-4o-mini", "--api-base", server]
    local, _ = bench(None, tmp_path / "local", dataset, model)
    assert local.returncode == 0, local.stderr[-2000:]
    KEYS_SENT.clear()
    remote, out = bench(cluster, tmp_path / "ray", dataset, model, "--ray", cluster.address)
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert "ray: sending OPENAI_API_KEY to the workers" in remote.stderr
    local_doc = json.loads((tmp_path / "local" / "report.json").read_text())
    doc = json.loads((tmp_path / "ray" / "report.json").read_text())
    assert doc["backend"] == "ray" and doc["nodes"] == 2 and doc["workers"] == 2
    assert per_problem(doc) == per_problem(local_doc)
    assert [p["passed_hidden"] for p in doc["problems"]] == [False, True, False, True]
    assert doc["failed_calls"] == 0 and doc["errors"] == 0
    assert KEYS_SENT and set(KEYS_SENT) == {KEY}  # every call came with the forwarded key


def test_bench_on_the_cluster_stops_with_exit_3_when_the_workers_have_no_key(cluster, server, tmp_path):
    dataset = write_dataset(tmp_path / "ds", 4)
    model = ["--model", "openai/gpt-4o-mini", "--api-base", server]
    done, out = bench(cluster, tmp_path, dataset, model, "--ray", cluster.address, "--no-ray-env")
    assert done.returncode == 3, done.stderr[-2000:]
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("orps:")]
    assert "benchmark stopped" in line and "credentials" in line
    assert not (out / "results.jsonl").exists() or not (out / "results.jsonl").read_text().strip()


def test_doctor_lists_both_nodes_and_a_model_call_from_each(cluster, server, tmp_path):
    done = orps(
        cluster,
        "doctor",
        "--no-model",
        "--json",
        "--ray",
        cluster.address,
        "--model",
        "openai/gpt-4o-mini",
        "--api-base",
        server,
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    ray = json.loads(done.stdout)["ray"]
    assert ray["connected"] and ray["ok"] and ray["node_count"] == 2 and ray["cpus"] == 2
    assert sorted(n["head"] for n in ray["nodes"]) == [False, True]
    for node in ray["nodes"]:
        assert node["same_version"] and node["sandbox"]["ok"], node
        assert node["model"]["ok"] and node["model"]["reply"] == "OK", node
    words = orps(
        cluster,
        "doctor",
        "--no-model",
        "--ray",
        cluster.address,
        "--model",
        "openai/gpt-4o-mini",
        "--api-base",
        server,
        key="",
    )  # no key anywhere: every worker says so, exit 1
    assert words.returncode == 1
    assert words.stdout.count("does not answer from a worker") == 2 and "Cluster: NOT ready" in words.stdout


SOURCE = 'def add3(x):\n    """Return x plus 3."""\n    return x\n'


def diff_of(patch: str) -> str:
    """A proposal's patch without orps's header lines (`# orps ...`, which git ignores)."""
    return "".join(line for line in patch.splitlines(keepends=True) if not line.startswith("# orps"))


def test_solve_on_the_cluster_equals_local(cluster, tmp_path):
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "mod.py").write_text(SOURCE)
    (project / "tests" / "test_mod.py").write_text(
        "from mod import add3\n\ndef test_add3():\n    assert add3(1) == 4\n    assert add3(-5) == -2\n"
    )
    script = tmp_path / "script.py"
    script.write_text(
        "import re\n\ndef respond(messages, params):\n"
        "    if 'reviewer' in messages[0]['content']:\n        return 'Score: 5/5'\n"
        "    return '```python\\ndef add3(x):\\n    return x + 3\\n```'\n"
    )
    common = [
        "solve",
        "--project",
        str(project),
        "--target",
        "mod.py::add3",
        "--json",
        "--model",
        f"scripted/{script}",
        *SETTINGS,
    ]
    local = orps(None, *common)
    remote = orps(cluster, *common, "--ray", cluster.address)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr[-2000:]
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert a["status"] == b["status"] == "solved"
    assert a["best"]["code"] == b["best"]["code"] and diff_of(a["patch"]) == diff_of(b["patch"])
    # the confirmation runs in the local sandbox; a search on the cluster says it had none
    assert a["confirmation"]["status"] == "confirmed"
    assert b["confirmation"]["status"] == "unconfirmed" and "local sandbox" in b["confirmation"]["reason"]
    assert (project / "mod.py").read_text() == SOURCE  # only apply touches the project


LOGGING_SCRIPT = """
import os, re, time
LOG = {log!r}

def respond(messages, params):
    text = messages[-1]["content"]
    n = int(re.search(r"Return x plus (\\d+)", text).group(1))
    with open(LOG, "a") as f:
        f.write(f"{{os.environ.get('ORPS_TEST_NODE', '?')}} t/{{n}}\\n")
    time.sleep(1.0)  # problems stay in flight long enough to lose a node under them
    if "reviewer" in messages[0]["content"]:
        return "Score: 5/5"
    body = f"x + {{n}}" if "negatives" in text else f"abs(x) + {{n}}"
    return f"```python\\ndef add{{n}}(x):\\n    return {{body}}\\n```"
"""


def test_a_lost_node_s_problems_finish_on_the_head(cluster, tmp_path):
    """Last in this module: it kills the second node."""
    log = tmp_path / "calls.log"
    script = tmp_path / "script.py"
    script.write_text(LOGGING_SCRIPT.format(log=str(log)))
    dataset = write_dataset(tmp_path / "ds", 4)
    env = {k: v for k, v in cluster.client_env().items() if not k.startswith("OPENAI_")}
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "bench",
            "--dataset",
            str(dataset),
            "--model",
            f"scripted/{script}",
            *SETTINGS,
            "--out",
            str(out),
            "--ray",
            cluster.address,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        on_second: set[str] = set()
        while not on_second and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)  # kill at the first call seen there: the problem has more to make
            lines = log.read_text().splitlines() if log.exists() else []
            on_second = {line.split()[1] for line in lines if line.startswith("second ")}
        assert on_second, "no problem ever ran on the second node"
        assert cluster.stop_node("second") > 0
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in results) == ["t/0", "t/1", "t/2", "t/3"]
    assert all(not r["error"] for r in results), [r["error"] for r in results]
    assert {r["id"]: r["passed_hidden"] for r in results} == {"t/0": False, "t/1": True, "t/2": False, "t/3": True}
    calls = log.read_text().splitlines()
    for problem in on_second:  # the problem caught on the lost node was searched again on the head
        assert f"head {problem}" in calls[max(i for i, c in enumerate(calls) if c == f"second {problem}") :]
