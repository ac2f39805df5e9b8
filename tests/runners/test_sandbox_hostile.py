"""Hostile candidates against the real sandbox: each gets the right verdict, changes
nothing outside its workspace, and leaves no process behind (checked through /proc: any
process whose working directory is in the evaluator's temp root, or whose command line
carries the test's unique marker)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from runners.sandbox.bwrap import bwrap_works
from runners.sandbox.cleanup import JANITOR
from runners.testing.evaluator import SandboxEvaluator
from runners.testing.verdict import OUTPUT_SHOWN
from search.types import Task

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")]


def task(test: str = "assert f() == 1") -> Task:
    return Task(id="hostile", problem="", entry_point="f", tests=[test])


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def processes_with(marker: str, root: Path | None = None) -> list[int]:
    """Live processes whose command line contains `marker` or whose cwd is under `root`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{entry}/cwd") if root else ""
        except OSError:
            continue
        if marker in cmdline or (root and cwd.startswith(str(root))):
            found.append(int(entry))
    return found


@pytest.fixture
def outside(tmp_path):
    """A directory outside the sandbox's workspace that must stay exactly as it is."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "keep.txt").write_text("original\n")
    return d


@pytest.fixture
def marker():
    return "orpsmark" + uuid.uuid4().hex[:12]


@pytest.fixture(params=["warm", "cold"])
async def evaluator(request):
    """Every hostile test runs both ways: in forks of the warm worker, and cold."""
    # 5 s: a cold run's start-up alone took over 3 s on a loaded 2-core machine.
    ev = SandboxEvaluator(timeout_s=5.0, memory_mb=512, max_procs=32, warm=request.param == "warm")
    yield ev
    ev.close()


@pytest.fixture(autouse=True)
def _hygiene(evaluator, outside):
    """After every hostile run: nothing outside changed, no process and no workspace left."""
    before = tree_digest(outside)
    yield
    assert tree_digest(outside) == before
    assert_no_survivors(evaluator)


async def run(evaluator, code: str, test: str = "assert f() == 1"):
    return await evaluator.evaluate(task(test), code)


def assert_no_survivors(evaluator, marker: str = "\0never", within: float = 2.5) -> None:
    """killpg does not wait for the group to die: look again for `within` s before failing."""
    deadline = time.time() + within
    while processes_with(marker, evaluator.workspaces.root) and time.time() < deadline:
        time.sleep(0.1)
    assert processes_with(marker, evaluator.workspaces.root) == []
    assert [p.name for p in evaluator.workspaces.root.iterdir() if p.name.startswith("run-")] == []


async def test_honest_candidate_passes(evaluator):
    ev = await run(evaluator, "def f():\n    return 1\n")
    assert ev.verdict == "passed" and ev.passed == 1 and ev.isolation.startswith("bwrap")
    assert ev.isolation.endswith("+warm" if evaluator.warm else "+cold")  # the path this test asked for ran


async def test_infinite_loop_times_out(evaluator):
    ev = await run(evaluator, "def f():\n    while True:\n        pass\n")
    assert ev.verdict == "timeout" and ev.passed == 0
    assert_no_survivors(evaluator)


async def test_long_sleep_times_out(evaluator):
    ev = await run(evaluator, "import time\ndef f():\n    time.sleep(600)\n    return 1\n")
    assert ev.verdict == "timeout"  # stopped at the time limit, not slept out
    assert_no_survivors(evaluator)


async def test_fork_storm_is_contained(evaluator):
    code = "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"
    ev = await run(evaluator, code)
    assert ev.verdict in ("timeout", "crashed", "failed") and ev.passed == 0
    assert_no_survivors(evaluator, within=4.5)  # a fork bomb's group takes longer to die


async def test_memory_bomb_fails(evaluator):
    ev = await run(
        evaluator, "def f():\n    blocks = []\n    while True:\n        blocks.append(bytearray(50 * 2**20))\n"
    )
    assert ev.verdict in ("failed", "crashed") and ev.passed == 0
    assert "MemoryError" in ev.tests[0].message or ev.verdict == "crashed"


async def test_huge_file_is_stopped(evaluator):
    code = "def f():\n    with open('/tmp/big', 'wb') as out:\n        for _ in range(1000):\n            out.write(b'x' * 2**20)\n    return 1\n"
    ev = await run(evaluator, code)
    assert ev.verdict in ("crashed", "failed") and ev.passed == 0


async def test_stdout_flood_is_capped(evaluator):
    code = "import sys\ndef f():\n    for _ in range(200):\n        sys.__stdout__.write('x' * 2**20)\n    return 1\n"
    ev = await run(evaluator, code)
    # pytest captures output to a file, so the file-size limit stops the flood at 64 MiB.
    assert ev.verdict in ("failed", "timeout") and "File too large" in ev.tests[0].message + ev.message
    assert len(ev.output) <= OUTPUT_SHOWN


async def test_writing_outside_the_workspace_fails(evaluator, outside):
    before = tree_digest(outside)
    code = f"def f():\n    open({str(outside / 'evil.txt')!r}, 'w').write('x')\n    open({str(outside / 'keep.txt')!r}, 'w').write('x')\n    return 1\n"
    ev = await run(evaluator, code)
    message = ev.tests[0].message
    assert ev.verdict == "failed" and ("Read-only file system" in message or "No such file" in message)
    assert tree_digest(outside) == before


async def test_modifying_the_users_project_fails(evaluator, tmp_path):
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "mod.py").write_text("def f():\n    return 0\n")
    (project / "tests" / "test_mod.py").write_text("from mod import f\n\ndef test_f():\n    assert f() == 1\n")
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    before = tree_digest(project)
    code = (
        f"def f():\n    open({str(project / 'mod.py')!r}, 'w').write('def f():\\n    return 1\\n')\n"
        f"    open({str(project / 'tests' / 'test_mod.py')!r}, 'w').write('')\n    return 1\n"
    )
    t = Task(
        id="p",
        problem="",
        entry_point="f",
        kind="project",
        target="mod.py::f",
        project=str(project),
        tests=["tests/test_mod.py::test_f"],
    )
    ev = await evaluator.evaluate(t, code)
    assert ev.verdict == "failed"
    assert tree_digest(project) == before


def writing_project(root: Path) -> Path:
    """A project whose test writes a file into its working directory, as many real ones do."""
    project = root / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "mod.py").write_text("def f():\n    return 0\n")
    (project / "tests" / "test_mod.py").write_text(
        "from pathlib import Path\nfrom mod import f\n\n"
        "def test_f():\n"
        "    assert not Path('out.txt').exists()  # nothing leaks from an earlier run\n"
        "    Path('out.txt').write_text(str(f()))\n"
        "    assert Path('out.txt').read_text() == '1'\n"
    )
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    return project


async def test_project_tests_may_write_files_without_touching_anything(evaluator, tmp_path):
    from runners.sandbox.bwrap import overlay_works

    if not overlay_works():
        pytest.skip("no overlayfs in a user namespace here: project copies are read-only")
    project = writing_project(tmp_path)
    before = tree_digest(project)
    t = Task(
        id="p",
        problem="",
        entry_point="f",
        kind="project",
        target="mod.py::f",
        project=str(project),
        tests=["tests/test_mod.py::test_f"],
    )
    first = await evaluator.evaluate(t, "def f():\n    return 1\n")
    second = await evaluator.evaluate(t, "def f():\n    return 1\n")  # same template, fresh layer
    assert (first.verdict, second.verdict) == ("passed", "passed"), first.output + second.output
    assert tree_digest(project) == before
    from runners.sandbox.workspace import SNAPSHOTS

    frozen = SNAPSHOTS.by_project[project.resolve()].dir
    assert not (frozen / "out.txt").exists() and (frozen / "mod.py").read_text() == "def f():\n    return 0\n"
    assert [p.name for p in evaluator.workspaces.root.iterdir() if p.name.startswith("overlay-")] == []


async def test_project_tests_and_their_bytecode_stay_read_only(evaluator, tmp_path):
    from runners.sandbox.bwrap import overlay_works

    if not overlay_works():
        pytest.skip("no overlayfs in a user namespace here: the whole project copy is read-only")
    project = writing_project(tmp_path)
    code = (
        "def f():\n"
        "    import os\n"
        "    for path in ('tests/test_mod.py', 'tests/__pycache__/test_mod.cpython-311-pytest.pyc'):\n"
        "        try:\n"
        "            open(path, 'a').write('x')\n"
        "            return 'wrote ' + path\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 1\n"
    )
    t = Task(
        id="p",
        problem="",
        entry_point="f",
        kind="project",
        target="mod.py::f",
        project=str(project),
        tests=["tests/test_mod.py::test_f"],
    )
    ev = await evaluator.evaluate(t, code)
    assert ev.verdict == "passed", ev.output


async def test_without_overlays_the_project_copy_is_read_only(evaluator, tmp_path, monkeypatch):
    from runners.sandbox import bwrap as sandbox

    monkeypatch.setattr(sandbox, "overlay_works", lambda: False)
    project = writing_project(tmp_path)
    before = tree_digest(project)
    t = Task(
        id="p",
        problem="",
        entry_point="f",
        kind="project",
        target="mod.py::f",
        project=str(project),
        tests=["tests/test_mod.py::test_f"],
    )
    ev = await evaluator.evaluate(t, "def f():\n    return 1\n")
    assert ev.verdict == "failed" and "Read-only file system" in ev.tests[0].message
    assert tree_digest(project) == before


async def test_network_to_host_loopback_is_unreachable(evaluator):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(4)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = f"import socket\ndef f():\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')\n    return 1\n"
    ev = await run(evaluator, code)
    thread.join()
    server.close()
    assert ev.verdict == "failed" and accepted == []


async def test_api_keys_are_not_in_the_environment(evaluator, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-secret")
    code = "import os\ndef f():\n    return os.environ.get('OPENAI_API_KEY', '') + os.environ.get('GITHUB_TOKEN', '')\n"
    ev = await run(evaluator, code, "assert 'secret' in f()")
    assert ev.verdict == "failed"


async def test_secrets_in_home_are_hidden(evaluator, monkeypatch, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    monkeypatch.setenv("HOME", str(home))
    code = f"def f():\n    return open({str(home / '.ssh' / 'id_rsa')!r}).read()\n"
    ev = await run(evaluator, code, "assert f() == 'PRIVATE KEY'")
    assert ev.verdict == "failed" and "No such file" in ev.tests[0].message


async def test_early_exit_is_a_crash_not_a_pass(evaluator):
    for exit_call in ("os._exit(0)", "sys.exit(0)"):
        ev = await run(evaluator, f"import os, sys\ndef f():\n    {exit_call}\n")
        assert ev.verdict in ("crashed", "failed") and ev.passed == 0, exit_call


async def test_exit_at_import_time_is_a_crash(evaluator):
    ev = await run(evaluator, "import os\nos._exit(0)\ndef f():\n    return 1\n")
    assert ev.verdict == "crashed" and ev.passed == 0


async def test_patching_pytest_to_fake_passes_is_tampering(evaluator):
    code = (
        "import _pytest.reports as r\n"
        "_orig = r.TestReport.from_item_and_call.__func__\n"
        "def _fake(cls, item, call):\n"
        "    rep = _orig(cls, item, call)\n"
        "    rep.outcome = 'passed'\n"
        "    return rep\n"
        "r.TestReport.from_item_and_call = classmethod(_fake)\n"
        "def f():\n    return 0\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "tampered" and ev.passed == 0


async def test_dropping_a_conftest_fails(evaluator):
    code = (
        "open('conftest.py', 'w').write('import pytest\\n@pytest.hookimpl(tryfirst=True)\\n"
        "def pytest_runtest_call(item):\\n    return True\\n')\ndef f():\n    return 0\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "failed" and ev.passed == 0


async def test_segfault_is_a_crash(evaluator):
    ev = await run(evaluator, "import ctypes\ndef f():\n    return ctypes.string_at(0)\n")
    assert ev.verdict == "crashed" and ev.passed == 0


async def test_killing_the_parent_is_a_crash(evaluator):
    # The parent inside the PID namespace is its init, which ignores the signal; whatever
    # happens, a wrong answer must not turn into a pass, and we must still be here.
    code = "import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    os.kill(1, signal.SIGKILL)\n    return 0\n"
    ev = await run(evaluator, code)
    assert ev.verdict in ("crashed", "failed") and ev.passed == 0
    assert_no_survivors(evaluator)


async def test_orphans_in_a_new_session_do_not_survive(evaluator):
    code = (
        "import subprocess\ndef f():\n    subprocess.Popen(['sleep', '987654'], start_new_session=True)\n    return 1\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "passed"  # starting a process is allowed; outliving the run is not
    assert_no_survivors(evaluator, "sleep 987654")


async def test_forged_result_lines_are_tampering(evaluator):
    code = (
        "import os\n"
        "def f():\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        '            os.write(fd, b\'{"type": "finish", "seq": 99, "tampered": []}\\tdeadbeef\\n\')\n'
        "        except OSError:\n"
        "            pass\n"
        "    return 1\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "tampered"


async def test_parallel_evaluations_do_not_leak(evaluator):
    import asyncio

    results = await asyncio.gather(*(run(evaluator, "def f():\n    return 1\n") for _ in range(6)))
    assert all(r.verdict == "passed" for r in results)
    leftovers = [p for p in evaluator.workspaces.root.iterdir() if p.name.startswith("run-")]
    assert leftovers == []


async def test_registering_a_hook_plugin_is_tampering(evaluator):
    code = (
        "import gc, pytest\n"
        "class Cheat:\n"
        "    @pytest.hookimpl(hookwrapper=True)\n"
        "    def pytest_runtest_makereport(self, item, call):\n"
        "        outcome = yield\n"
        "        outcome.get_result().outcome = 'passed'\n"
        "for obj in gc.get_objects():\n"
        "    if type(obj).__name__ == 'PytestPluginManager':\n"
        "        obj.register(Cheat())\n"
        "        break\n"
        "def f():\n    return 0\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "tampered" and ev.passed == 0 and "plugin" in ev.message


async def test_patching_function_runtest_is_tampering(evaluator):
    code = "import _pytest.python as p\np.Function.runtest = lambda self: None\ndef f():\n    return 0\n"
    ev = await run(evaluator, code)
    assert ev.verdict == "tampered" and ev.passed == 0 and "Function.runtest" in ev.message


async def test_a_forked_twin_is_tampering(evaluator):
    code = "import os\nif os.fork():\n    os.wait()\ndef f():\n    return 1\n"
    ev = await run(evaluator, code)
    assert ev.verdict == "tampered" and ev.passed == 0


async def test_cancellation_kills_the_sandbox(evaluator, marker):
    code = f"import subprocess, time\ndef f():\n    subprocess.Popen(['sh', '-c', 'sleep 300; echo {marker}'])\n    time.sleep(300)\n"
    job = asyncio.ensure_future(run(evaluator, code))
    deadline = time.time() + 10
    while not processes_with(marker) and time.time() < deadline:
        await asyncio.sleep(0.1)
    assert processes_with(marker), "the candidate never started"
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert JANITOR.wait(10), "the clean-up after the cancel did not finish"
    assert_no_survivors(evaluator, marker)


async def test_tests_and_conftest_are_read_only(evaluator):
    code = (
        "def f():\n"
        "    try:\n"
        "        open('test_solution.py', 'a').write('\\n')\n"
        "    except OSError as err:\n"
        "        return str(err)\n"
        "    return 'written'\n"
    )
    ev = await run(evaluator, code, "assert 'Read-only' in f()")
    assert ev.verdict == "passed"


# -- the project as the overlay's lower layer, files under test frozen ----------
def data_project(root: Path) -> Path:
    """A project whose test compares against a golden file in tests/data and imports a helper."""
    project = root / "proj"
    (project / "tests" / "data").mkdir(parents=True)
    (project / "mod.py").write_text("from helper import base\n\ndef f():\n    return 0\n")
    (project / "helper.py").write_text("base = 1\n")
    (project / "tests" / "data" / "expected.json").write_text("[1]")
    (project / "tests" / "test_mod.py").write_text(
        "import json\nfrom pathlib import Path\nfrom mod import f\n\n"
        "def test_f():\n"
        "    assert [f()] == json.loads((Path(__file__).parent / 'data' / 'expected.json').read_text())\n"
    )
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    return project


def data_task(project: Path) -> Task:
    return Task(
        id="p",
        problem="",
        entry_point="f",
        kind="project",
        target="mod.py::f",
        project=str(project),
        tests=["tests/test_mod.py::test_f"],
    )


async def test_reading_golden_files_passes(evaluator, tmp_path):
    ev = await evaluator.evaluate(
        data_task(data_project(tmp_path)), "from helper import base\n\ndef f():\n    return base\n"
    )
    assert ev.verdict == "passed", ev.message + ev.output


async def test_rewriting_golden_files_fails(evaluator, tmp_path):
    """the tests' whole tree (data included) is read-only."""
    project = data_project(tmp_path)
    before = tree_digest(project)
    code = (
        "def f():\n"
        "    import os\n"
        "    for path in ('tests/data/expected.json', os.path.join(os.path.dirname(__file__), 'tests/data/expected.json')):\n"
        "        try:\n"
        "            open(path, 'w').write('[42]')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 42\n"
    )
    ev = await evaluator.evaluate(data_task(project), code)
    assert ev.verdict in ("failed", "tampered"), ev.message
    assert tree_digest(project) == before


async def test_a_candidate_writing_into_the_copy_changes_nothing(evaluator, tmp_path):
    project = data_project(tmp_path)
    before = tree_digest(project)
    code = (
        "def f():\n"
        "    import os\n"
        "    open('helper.py', 'w').write('base = 99\\n')\n"
        "    open('new_file.txt', 'w').write('x')\n"
        "    os.makedirs('made/here', exist_ok=True)\n"
        "    return 1\n"
    )
    assert (await evaluator.evaluate(data_task(project), code)).verdict == "passed"
    ev = await evaluator.evaluate(data_task(project), "from helper import base\n\ndef f():\n    return base\n")
    assert ev.verdict == "passed", ev.message  # the earlier run's writes are gone
    assert tree_digest(project) == before


async def test_a_user_edit_during_a_search_is_detected_and_reported(evaluator, tmp_path):
    from runners.sandbox.workspace import SNAPSHOTS

    project = data_project(tmp_path)
    honest = "from helper import base\n\ndef f():\n    return base\n"
    assert (await evaluator.evaluate(data_task(project), honest)).verdict == "passed"
    (project / "helper.py").write_text("base = 2  # the user edits while the search runs\n")
    snap = SNAPSHOTS.by_project[project.resolve()]
    snap.checked_at = 0  # the background check is due now
    await evaluator.evaluate(data_task(project), honest)
    for _ in range(100):
        if not snap.checking:
            break
        await asyncio.sleep(0.05)
    ev = await evaluator.evaluate(data_task(project), honest)
    assert "the project changed during the search (helper.py)" in ev.message
    assert ev.verdict == "failed"  # the new helper is what runs now, consistently
    assert snap.superseded and SNAPSHOTS.by_project[project.resolve()] is not snap


async def test_ignored_dirs_and_secrets_are_not_visible(evaluator, tmp_path):
    project = data_project(tmp_path)
    for name in (".git", "node_modules", ".venv"):
        (project / name).mkdir()
        (project / name / "inside.txt").write_text("x")
    (project / ".env").write_text("DB_PASSWORD=hunter2-canary\n")
    code = (
        "def f():\n"
        "    import os\n"
        "    seen = [p for p in ('.git/inside.txt', 'node_modules/inside.txt', '.venv/inside.txt') if os.path.exists(p)]\n"
        "    secret = open('.env').read() if os.path.exists('.env') else ''\n"
        "    assert not seen and 'hunter2' not in secret, (seen, secret)\n"
        "    return 1\n"
    )
    ev = await evaluator.evaluate(data_task(project), code)
    assert ev.verdict == "passed", ev.message + ev.output
    assert "hunter2" not in ev.message + ev.output
    assert ".env: looks like a secret, left out" in ev.message


async def test_a_fifo_in_the_project_is_skipped_with_a_note(evaluator, tmp_path):
    """special files never crash the copy."""
    project = data_project(tmp_path)
    os.mkfifo(project / "tests" / "data" / "pipe")
    os.mkfifo(project / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(project / "sock"))
    try:
        ev = await evaluator.evaluate(data_task(project), "def f():\n    return 1\n")
    finally:
        sock.close()
    assert ev.verdict == "passed", ev.message
    assert "pipe: a FIFO, left out" in ev.message and "sock: a socket, left out" in ev.message


async def test_without_overlays_a_fifo_is_skipped_too(evaluator, tmp_path, monkeypatch):
    project = data_project(tmp_path)
    os.mkfifo(project / "pipe")
    monkeypatch.setattr(evaluator.workspaces, "_copy_on_write", lambda project: False)
    ev = await evaluator.evaluate(data_task(project), "def f():\n    return 1\n")
    assert ev.verdict == "passed", ev.message


def test_clean_up_never_follows_a_link_as_a_normal_user():
    """a read-only directory holding a link to a user's file, and a mode-000
    directory: removed, and the linked file's mode untouched. Run as uid 65534 when we are root."""
    import shutil
    import tempfile

    from runners.sandbox.cleanup import remove_tree

    tmp_path = Path(tempfile.mkdtemp())  # not under pytest's root-only (0700) base directory
    tmp_path.chmod(0o755)
    mode_before = tmp_path.stat().st_mode
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    victim.chmod(0o600)
    tree = tmp_path / "tree"
    (tree / "ro").mkdir(parents=True)
    (tree / "ro" / "link").symlink_to(victim)
    (tree / "ro" / "dirlink").symlink_to(tmp_path)
    (tree / "locked" / "deep").mkdir(parents=True)
    (tree / "locked" / "deep" / "f").write_text("x")
    (tree / "locked").chmod(0)
    (tree / "ro").chmod(0o500)
    if os.geteuid() == 0:
        for path in (
            tmp_path,
            victim,
            tree,
            tree / "ro",
            tree / "locked",
            tree / "locked" / "deep",
            tree / "locked" / "deep" / "f",
        ):
            os.chown(path, 65534, 65534)
        for link in (tree / "ro" / "link", tree / "ro" / "dirlink"):
            os.chown(link, 65534, 65534, follow_symlinks=False)
        pid = os.fork()
        if pid == 0:  # the child becomes a normal user and cleans up
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                remove_tree(tree)
                os._exit(0)
            except BaseException:  # noqa: BLE001
                os._exit(1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    else:
        remove_tree(tree)
    assert not tree.exists()
    assert victim.read_text() == "keep" and (victim.stat().st_mode & 0o777) == 0o600
    assert tmp_path.stat().st_mode == mode_before  # the directory link's target kept its mode
    shutil.rmtree(tmp_path)


# -- no new namespaces, no mounts, one memory limit for the whole run -------
NESTED_NAMESPACE = '''
ATTEMPT = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
results = [libc.unshare(flags) for flags in (0x10000000, 0x00020000, 0x10020000)]  # NEWUSER, NEWNS
results.append(libc.mount(b"none", b"/tmp", b"tmpfs", 0, b"size=100g"))
raise SystemExit(0 if any(r == 0 for r in results) else 3)
"""


def f():
    import subprocess, sys
    # In a separate interpreter: refusing the attempt is the kernel's job (seccomp, no userns);
    # the in-process trust checks, which call any ctypes use suspicious, stay out of the way.
    # 1 means a nested namespace or a mount worked: the attack succeeded.
    return 1 if subprocess.run([sys.executable, "-c", ATTEMPT]).returncode == 0 else 0
'''


async def test_nested_namespaces_and_mounts_are_refused(evaluator):
    from runners.sandbox.bwrap import seccomp_works

    if not seccomp_works():
        pytest.skip("no seccomp filter here")
    ev = await run(evaluator, NESTED_NAMESPACE)
    assert ev.verdict == "failed", ev.message  # f() returned 0: every call was refused


async def test_unshare_command_fails_in_the_sandbox(tmp_path):
    from runners.sandbox.bwrap import seccomp_works
    from runners.sandbox.caps import Limits
    from runners.sandbox.run import run_sandboxed

    if not seccomp_works():
        pytest.skip("no seccomp filter here")
    unshare = "/usr/bin/unshare"
    if not Path(unshare).exists():
        pytest.skip("no unshare(1) here")
    r = await run_sandboxed([unshare, "-Urm", "true"], tmp_path, Limits())
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


DEV_SHM_FLOOD = """
def f():
    chunk = b"x" * (1 << 20)
    for i in range(2000):  # 2 GiB, over a 512 MiB limit, in files of 32 MiB (under RLIMIT_FSIZE)
        with open(f"/dev/shm/flood{i // 32}", "ab") as out:
            out.write(chunk)
    return 1
"""


@pytest.fixture
async def small_evaluator():
    ev = SandboxEvaluator(timeout_s=20, memory_mb=512)
    yield ev
    ev.close()


def cgroup_memory() -> bool:
    from runners.sandbox.caps import _cgroup_roots

    return "memory" in _cgroup_roots()


async def test_dev_shm_flood_stays_within_the_limit(small_evaluator):
    ev = await run(small_evaluator, DEV_SHM_FLOOD)
    assert ev.verdict in ("failed", "crashed", "timeout"), ev.message


async def test_dev_is_read_only(evaluator):
    code = "def f():\n    open('/dev/evil', 'w').write('x')\n    return 1\n"
    ev = await run(evaluator, code)
    assert ev.verdict == "failed" and "Read-only file system" in ev.tests[0].message


FORKED_HOGS = """
def f():
    import os, time
    children = []
    for _ in range(4):  # 4 x 200 MiB under a 512 MiB limit for the whole run
        pid = os.fork()
        if pid == 0:
            block = bytearray(200 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(2)
            os._exit(0)
        children.append(pid)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    return 1 if all(s == 0 for s in statuses) else 0
"""


async def test_forked_children_share_one_memory_limit(small_evaluator):
    if not cgroup_memory():
        pytest.skip("no memory cgroup here: RLIMIT_AS limits each process only")
    ev = await run(small_evaluator, FORKED_HOGS)
    assert ev.verdict in ("failed", "crashed"), ev.message


LOOK_ALIKE_WORKERS = """
def f():
    import multiprocessing, os, tempfile
    with multiprocessing.Pool(3) as pool:
        assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    with open('/dev/shm/mine', 'wb') as out:
        out.write(b'x' * (8 << 20))
    os.unlink('/dev/shm/mine')
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, 'a'), 'w').write('ok')
    return 1
"""


async def test_look_alike_workers_shm_and_temp_dirs_pass(small_evaluator):
    ev = await run(small_evaluator, LOOK_ALIKE_WORKERS)
    assert ev.verdict == "passed", ev.message + ev.output


# -- a view of the host that holds only what a test run needs -------------------
@pytest.fixture
def canary_file():
    """A world-readable file outside the project and outside /tmp (/srv/otherapp/.env-like)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="orps-canary-", dir="/var/tmp"))
    folder.chmod(0o755)
    secret = folder / ".env"
    value = "CANARY-" + uuid.uuid4().hex
    secret.write_text(f"{value} is the database password\n")  # not key-shaped: masking would not catch it
    secret.chmod(0o644)
    yield secret, value
    shutil.rmtree(folder)


async def test_a_world_readable_file_outside_the_project_is_not_there(evaluator, canary_file):
    path, value = canary_file
    code = f"def f():\n    return open({str(path)!r}).read()\n"
    ev = await run(evaluator, code, test="assert f() == 1, f()")
    assert ev.verdict == "failed" and "No such file or directory" in ev.tests[0].message
    assert value not in ev.message + ev.output + "".join(t.message for t in ev.tests)


async def test_other_users_and_projects_are_not_listed(evaluator, tmp_path):
    # Only the path down to the interpreter may exist (a Python under /root/.pyenv, say).
    code = (
        "def f():\n"
        "    import os, sys\n"
        "    needed = {part for p in (sys.prefix, sys.base_prefix, *sys.path) for part in p.split('/')}\n"
        "    seen = {d: [e for e in os.listdir(d) if e not in needed] for d in\n"
        "            ('/home', '/root', '/srv', '/var', '/opt', '/mnt', '/media') if os.path.exists(d)}\n"
        "    assert not any(seen.values()), seen\n"
        "    return 1\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "passed", ev.message


async def test_host_processes_are_not_visible_in_proc(evaluator, marker):
    import subprocess

    host = subprocess.Popen(["sleep", "30", marker])  # a host process the candidate looks for
    try:
        code = (
            "def f():\n"
            "    import os\n"
            "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        try:\n"
            f"            if {marker!r} in open(f'/proc/{{pid}}/cmdline').read():\n"
            "                return 0\n"
            "        except OSError:\n"
            "            pass\n"
            "    return 1\n"
        )
        ev = await run(evaluator, code)
    finally:
        host.kill()
        host.wait()
    assert ev.verdict == "passed", ev.message


LOOK_ALIKE_SYSTEM = """
def f():
    import importlib.resources, locale, ssl, tempfile, zoneinfo, datetime
    assert zoneinfo.ZoneInfo("Europe/Paris").utcoffset(datetime.datetime(2024, 1, 1)) == datetime.timedelta(hours=1)
    ctx = ssl.create_default_context()
    assert ctx.cert_store_stats()["x509_ca"] > 0, "no CA certificates visible"
    locale.setlocale(locale.LC_ALL, "C.UTF-8")
    with tempfile.NamedTemporaryFile("w") as out:
        out.write("ok")
    assert importlib.resources.files("pytest").joinpath("__init__.py").read_text()
    import getpass
    getpass.getuser()
    return 1
"""


async def test_look_alikes_zoneinfo_ssl_locale_tempfile_resources_pass(evaluator):
    ev = await run(evaluator, LOOK_ALIKE_SYSTEM)
    assert ev.verdict == "passed", ev.message + ev.output


async def test_sandbox_read_adds_a_read_only_path(tmp_path, canary_file):
    path, value = canary_file
    project = data_project(tmp_path)
    code = f"def f():\n    assert open({str(path)!r}).read().startswith('CANARY-')\n    return 1\n"
    ev = SandboxEvaluator(timeout_s=10, read_paths=[path.parent])
    try:
        result = await ev.evaluate(data_task(project), code)
    finally:
        ev.close()
    assert result.verdict == "passed", result.message
    (project / "pyproject.toml").write_text(
        f"[tool.pytest.ini_options]\npythonpath = ['.']\n[tool.orps]\nsandbox_read = [{str(path.parent)!r}]\n"
    )
    ev = SandboxEvaluator(timeout_s=10)
    try:
        result = await ev.evaluate(data_task(project), code)
    finally:
        ev.close()
    assert result.verdict == "passed", result.message


def test_a_canary_never_reaches_any_prompt(tmp_path, canary_file, capsys):
    """End to end with the scripted provider: a candidate that reads a world-readable file
    outside the project and the project's .env, and raises what it read. Neither secret
    appears in any prompt or in the result."""
    import json
    import shutil

    from orps_tui.cli import main
    from search.providers.scripted import register_script

    path, value = canary_file
    project = tmp_path / "proj"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "sample_project", project)
    project_value = "PROJECT-CANARY-" + uuid.uuid4().hex
    (project / ".env").write_text(f"{project_value}\n")
    attack = (
        "```python\ndef slugify(title):\n    found = []\n"
        f"    for path in ({str(path)!r}, '.env', '../.env'):\n"
        "        try:\n            found.append(open(path).read())\n"
        "        except OSError as err:\n            found.append(str(err))\n"
        "    print(found)\n    raise AssertionError(' | '.join(found))\n```\n"
    )
    prompts: list[str] = []

    def respond(messages, params):
        prompts.append("\n".join(m["content"] for m in messages))
        return "Score: 1/5" if "reviewer" in messages[0]["content"] else attack

    register_script("canary", respond)
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            "src/textkit/words.py::slugify",
            "--model",
            "scripted/canary",
            "--json",
            "--quiet",
            "--no-cache",
        ]
    )
    out = capsys.readouterr()
    assert code in (0, 1), out.err
    doc = json.loads(out.out)
    assert len(prompts) >= 2 and any("No such file or directory" in p for p in prompts)  # the attack ran
    for text in (*prompts, out.out, out.err, json.dumps(doc)):
        assert value not in text and project_value not in text


def test_doctor_lists_protections_and_the_view(tmp_path, capsys):
    import json

    from orps_tui.cli import main

    shared = tmp_path / "shared-fixtures"
    shared.mkdir()
    project = data_project(tmp_path)
    (project / "pyproject.toml").write_text('[tool.orps]\nsandbox_read = ["../shared-fixtures"]\n')
    assert main(["doctor", "--no-model", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "protections: seccomp on" in out or "protections: seccomp off" in out
    assert "memory cgroup" in out and "user namespaces" in out
    assert "\n    /usr\n" in out and f"\n    {shared}\n" in out
    assert main(["doctor", "--json", "--no-model", "--project", str(project)]) == 0
    report = json.loads(capsys.readouterr().out)["sandbox"]
    assert {"seccomp", "userns_disabled", "memory_cgroup", "view"} <= set(report)


LEAVES_TRACES = """
import builtins, json, os, sys, types
json.orps_leak = 1
builtins.orps_leak = 1
sys.modules["orps_leak"] = types.ModuleType("orps_leak")
os.environ["ORPS_LEAK"] = "1"
os.dup2(os.open("/dev/null", os.O_RDONLY), 97)
open("/tmp/orps-leak", "w").write("x")
import threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
def f():
    return 1
"""

FINDS_NO_TRACES = """
import builtins, json, os, sys
TRACES = [name for name, found in [
    ("a module attribute", hasattr(json, "orps_leak")), ("a builtin", hasattr(builtins, "orps_leak")),
    ("a sys.modules entry", "orps_leak" in sys.modules), ("an environment variable", "ORPS_LEAK" in os.environ),
    ("a file", os.path.exists("/tmp/orps-leak")), ("an fd", os.path.exists("/proc/self/fd/97")),
    ("a thread", __import__("threading").active_count() > 1)] if found]
def f():
    assert not TRACES, TRACES
    return 1
"""


async def test_a_warm_fork_carries_nothing_from_one_candidate_to_the_next(evaluator):
    first = await run(evaluator, LEAVES_TRACES)
    second = await run(evaluator, FINDS_NO_TRACES)
    assert first.verdict == "passed" and first.isolation.endswith("+warm" if evaluator.warm else "+cold")
    assert second.verdict == "passed", second.tests[0].message
    assert second.isolation == first.isolation  # the same path ran both


async def test_cancel_kills_every_running_evaluation_at_once_and_cleans_up(evaluator, marker):
    # Its own evaluator: a time limit long enough that only the cancel can stop the runs.
    slow = SandboxEvaluator(timeout_s=120, memory_mb=512, max_procs=32, warm=evaluator.warm)
    code = (
        "import subprocess, time\ndef f():\n"
        f"    subprocess.Popen(['sh', '-c', 'sleep 300; echo {marker}'])\n    time.sleep(300)\n"
    )
    try:
        jobs = [asyncio.ensure_future(run(slow, code)) for _ in range(slow.workers + 1)]
        deadline = time.time() + 60
        while len(processes_with(marker)) < slow.workers and time.time() < deadline:
            await asyncio.sleep(0.1)
        assert len(processes_with(marker)) >= slow.workers, "the candidates never started"
        for job in jobs:
            job.cancel()
        for job in jobs:  # returned at once: well before the runs' 120 s time limit
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(job, 60)
        deadline = time.time() + 30
        while processes_with(marker) and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert processes_with(marker) == [], "a sandbox process outlived the cancel"
        deadline = time.time() + 10  # the workspaces go on the clean-up thread, soon after
        while any(p.name.startswith("run-") for p in slow.workspaces.root.iterdir()) and time.time() < deadline:
            await asyncio.sleep(0.1)
        assert_no_survivors(slow)
    finally:
        slow.close()


async def test_the_warm_worker_and_its_forks_are_out_of_sight(evaluator):
    # The worker and the fork that joins the sandbox run orps's code with its pipes open:
    # only the run itself (in the sandbox's PID namespace; a fork of the worker, so its
    # command line reads like the worker's) may be visible.
    code = (
        "import os\ndef f():\n    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "        if int(pid) == os.getpid():\n            continue\n        try:\n"
        "            if b'_warm_worker' in open(f'/proc/{pid}/cmdline', 'rb').read():\n                return pid\n"
        "        except OSError:\n            pass\n    return 1\n"
    )
    ev = await run(evaluator, code)
    assert ev.verdict == "passed", ev.tests[0].message


# -- Nothing from the project stands in for orps's own code in the test process ----------------

FORGER = """
import hashlib, hmac, json, os
key_fd, result_fd = os.environ.get("ORPS_KEY_FD"), os.environ.get("ORPS_RESULT_FD")
if key_fd and result_fd:
    data = b""
    while chunk := os.read(int(key_fd), 65536):
        data += chunk
    key, seq = data[:32], 0
    def emit(record):
        global seq
        record["seq"] = seq
        seq += 1
        body = json.dumps(record, sort_keys=True)
        os.write(int(result_fd), (body + "\\t" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest() + "\\n").encode())
    node = "tests/test_mod.py::test_f"
    emit({"type": "collected", "count": 1, "ids": [node]})
    emit({"type": "report", "nodeid": node, "when": "call", "outcome": "passed", "duration": 0.001, "message": ""})
    emit({"type": "finish", "exitstatus": 0, "tampered": [], "session_s": 0.01, "cpu_s": 0.01, "maxrss_kb": 1})
    os._exit(0)
"""


def stand_in_project(root: Path) -> Task:
    project = root / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "mod.py").write_text("def f():\n    return 0\n")
    (project / "tests" / "test_mod.py").write_text("from mod import f\n\ndef test_f():\n    assert f() == 1\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    return Task(
        id="p",
        problem="",
        entry_point="f",
        kind="project",
        target="mod.py::f",
        project=str(project),
        tests=["tests/test_mod.py::test_f"],
        original_code="def f():\n    return 0\n",
    )


@pytest.mark.parametrize(
    "name",
    [
        "_orps_pytest_plugin.py",
        "pytest.py",
        "sitecustomize.py",
        "_orps_boot.py",
        "pluggy.py",
        "usercustomize.py",
        "_orps_pytest_compat.py",
        "_pytest_compat.py",
    ],
)
async def test_a_project_file_cannot_stand_in_for_orps_or_pytest(evaluator, tmp_path, name):
    """A file the project (or a patch) adds under the name of orps's plugin, pytest or a
    start-up hook is never imported in their place: the forged records never exist."""
    task = stand_in_project(tmp_path)
    ev = await evaluator.evaluate(task, "def f():\n    return 0\n", files={name: FORGER})
    assert ev.verdict == "failed" and ev.passed == 0, ev.message + ev.output
    (Path(task.project) / name).write_text(FORGER)  # in the project itself, not only in a patch
    ev = await evaluator.evaluate(task, "def f():\n    return 0\n")
    assert ev.verdict == "failed" and ev.passed == 0, ev.message + ev.output


async def test_a_project_module_with_an_ordinary_name_still_imports(evaluator, tmp_path):
    """The look-alike: the project's own modules at its root are importable as with `python
    -m pytest` (and by the processes its tests start)."""
    task = stand_in_project(tmp_path)
    (Path(task.project) / "helpers.py").write_text("ONE = 1\n")
    (Path(task.project) / "tests" / "test_mod.py").write_text(
        "import subprocess, sys\nfrom helpers import ONE\nfrom mod import f\n\ndef test_f():\n    assert f() == ONE\n"
        "    out = subprocess.run([sys.executable, '-c', 'import helpers; print(helpers.ONE)'], capture_output=True,"
        " text=True)\n    assert out.stdout.strip() == '1', out.stderr\n"
    )
    ev = await evaluator.evaluate(task, "def f():\n    return 1\n")
    assert ev.verdict == "passed", ev.message + ev.output


async def test_host_environment_variables_do_not_reach_pytest(evaluator, tmp_path, monkeypatch):
    task = stand_in_project(tmp_path)
    (Path(task.project) / "evil_plugin.py").write_text(FORGER)
    for name, value in (
        ("PYTEST_ADDOPTS", "-p evil_plugin"),
        ("PYTEST_PLUGINS", "evil_plugin"),
        ("PYTHONPATH", task.project),
        ("PYTHONSTARTUP", str(Path(task.project) / "evil_plugin.py")),
    ):
        monkeypatch.setenv(name, value)
    ev = await evaluator.evaluate(task, "def f():\n    return 0\n")
    assert ev.verdict == "failed" and ev.passed == 0, ev.message + ev.output


# -- Resource limits ------------------------------------------------------------------------------

CHANNEL_FLOOD = """
import os, stat
junk = b"x" * (1 << 16)
for fd in range(3, 256):
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            continue
        for _ in range(512):  # 32 MiB, twice the cap
            os.write(fd, junk)
    except OSError:
        pass
def f():
    return 1
"""


@pytest.fixture
def drain_calls(monkeypatch):
    """One entry per time the parent reads the result channel."""
    from runners.testing import verdict as module

    calls: list[int] = []
    original = module.Channel.drain

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(module.Channel, "drain", counted)
    return calls


async def test_a_flood_on_the_result_channel_ends_without_busy_waiting(evaluator, drain_calls):
    """Past the cap the parent stops reading and closes its end: the loop is not woken by a
    pipe it no longer reads (counted: the calls to drain stay near the cap / read size)."""
    from runners.testing.verdict import RESULT_CAP

    ev = await evaluator.evaluate(task(), CHANNEL_FLOOD)
    assert ev.verdict != "passed" and ev.passed == 0
    assert len(drain_calls) < 4 * (RESULT_CAP >> 16), len(drain_calls)


async def test_an_honest_run_stops_watching_the_channel_at_its_end(evaluator, drain_calls):
    """Once the test process is gone the result pipe is at its end, readable for good: the
    parent stops watching it then, instead of being woken by it until the sandbox is reaped
    (about a thousand wake-ups per run before, on the CPU the run's own tail needs)."""
    ev = await run(evaluator, "def f():\n    return 1\n")
    assert ev.verdict == "passed"
    assert len(drain_calls) < 50, len(drain_calls)


async def test_many_honest_records_are_not_a_flood(evaluator):
    """The look-alike: a parametrized test with many cases (legitimate parametrize)."""
    evaluator.limits.timeout_s = 60  # 300 tests: a loaded machine needs more than the usual 5 s
    t = Task(id="many", problem="", entry_point="f", tests=[f"assert f({i}) == {i} * 2" for i in range(300)])
    ev = await evaluator.evaluate(t, "def f(x):\n    return x * 2\n")
    assert ev.verdict == "passed" and ev.passed == 300


FROZEN_CLOCK = """
import time
import _pytest.timing

_pytest.timing.perf_counter = lambda: 0.0  # what pytest's durations are measured with
time.perf_counter = lambda: 0.0
time.monotonic = lambda: 0.0
def f():
    total = 0
    for i in range(2_000_000):
        total += i % 7
    return 1
"""
HONEST_FAST = "def f():\n    return 1\n"


async def test_a_frozen_clock_does_not_make_a_candidate_fast(evaluator):
    """--goal faster compares runtimes: the call phase is timed by clocks captured before any
    test code (elapsed and CPU, the larger counts), so freezing the clocks pytest and the
    tests see gives nothing. The look-alike: the honest fast candidate stays fast."""
    frozen = await evaluator.evaluate(task(), FROZEN_CLOCK)
    honest = await evaluator.evaluate(task(), HONEST_FAST)
    assert frozen.verdict == honest.verdict == "passed"
    assert frozen.runtime_s is not None and frozen.runtime_s > 10 * honest.runtime_s, (
        frozen.runtime_s,
        honest.runtime_s,
    )
    assert frozen.runtime_s <= frozen.wall_s


async def test_host_pythonpath_and_pth_directories_are_not_visible(evaluator, tmp_path, monkeypatch):
    """Directories on orps's own sys.path through PYTHONPATH or .pth files (an editable
    checkout, a user's libraries) do not exist inside; the interpreter's stdlib and
    site-packages do (the look-alike: a candidate importing json and decimal passes)."""
    host_lib = tmp_path / "host-lib"
    host_lib.mkdir()
    (host_lib / "secret.txt").write_text("host data")
    monkeypatch.syspath_prepend(str(host_lib))
    code = (
        f"import json, decimal, os\ndef f():\n    return 0 if os.path.exists({str(host_lib / 'secret.txt')!r}) "
        "else json.loads('1') * int(decimal.Decimal('1'))\n"
    )
    ev = await evaluator.evaluate(task(), code)
    assert ev.verdict == "passed", ev.message + ev.output


DISK_FLOOD = """
import os
def f():
    block = b"x" * (1 << 20)
    for n in range(10_000):
        with open(f"flood{n // 16}.bin", "ab") as out:  # files under the per-file size limit
            out.write(block)
    return 1
"""
FILE_FLOOD = """
import os
def f():
    os.makedirs("many", exist_ok=True)
    for n in range(1_000_000):
        open(f"many/{n}", "w").close()
    return 1
"""
FEW_MB = """
import os
def f():
    with open("/tmp/scratch.bin", "wb") as out:
        out.write(os.urandom(3 << 20))
    with open("here.bin", "wb") as out:
        out.write(os.urandom(3 << 20))
    return 1
"""


@pytest.mark.parametrize(
    "code, why", [(DISK_FLOOD, "it wrote more than 40 MB to disk"), (FILE_FLOOD, "it created more than 2000 files")]
)
async def test_a_write_flood_is_stopped_and_leaves_the_disk_as_it_was(evaluator, code, why):
    evaluator.limits.write_mb, evaluator.limits.write_files = 40, 2000
    before = shutil.disk_usage(evaluator.workspaces.root).used
    ev = await evaluator.evaluate(task(), code)
    assert ev.verdict != "passed" and ev.passed == 0
    assert ev.message.startswith(f"the test run was stopped: {why}"), ev.message
    JANITOR.wait(10)
    assert shutil.disk_usage(evaluator.workspaces.root).used < before + (40 << 20)  # others write too
    assert not [p for p in evaluator.workspaces.root.iterdir() if p.name.startswith(("run-", "overlay-"))]


async def test_writing_a_few_mb_passes(evaluator):
    """The look-alike: a few MB in /tmp and in the working directory."""
    evaluator.limits.write_mb = 40
    ev = await evaluator.evaluate(task(), FEW_MB)
    assert ev.verdict == "passed", ev.message + ev.output


async def test_a_write_flood_in_a_project_copy_is_stopped(evaluator, tmp_path):
    """The copy-on-write layer of a project lands on the host's disk: capped the same way,
    and the project is untouched."""
    evaluator.limits.write_mb = 40
    t = stand_in_project(tmp_path)
    before = tree_digest(Path(t.project))
    ev = await evaluator.evaluate(t, DISK_FLOOD)
    assert ev.message.startswith("the test run was stopped: it wrote more than 40 MB to disk"), ev.message
    assert tree_digest(Path(t.project)) == before


MANY_PROCESSES_MEMORY = """
import os, time
def f():
    children = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            block = bytearray(120 << 20)  # each under the per-process limit, together over the run's
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return 1
"""


async def test_memory_is_capped_for_the_whole_run_without_a_memory_cgroup(evaluator, monkeypatch):
    """Where no memory cgroup can be made, the run's processes' memory is added up: several
    processes each under RLIMIT_AS cannot together exceed the limit. The look-alike: one
    process using a moderate amount passes."""
    from runners.sandbox import caps as sandbox

    monkeypatch.setattr(sandbox, "_cgroup_roots", lambda: {})
    evaluator.limits.timeout_s = 20
    ev = await evaluator.evaluate(task(), MANY_PROCESSES_MEMORY)
    assert ev.message.startswith("the test run was stopped: its processes used more than 512 MB"), ev.message
    ev = await evaluator.evaluate(task(), "def f():\n    block = bytearray(64 << 20)\n    return 1 + block[0]\n")
    assert ev.verdict == "passed", ev.message


async def test_the_sandboxs_init_does_not_show_the_host_paths_it_binds(evaluator, tmp_path):
    """bwrap's options (every host path it binds) reach it through a pipe, so /proc/1/cmdline
    inside is not a map of the host. The look-alike: the test process's own command line is
    readable as usual."""
    code = (
        "import os\ndef f():\n    init = open('/proc/1/cmdline', 'rb').read().replace(b'\\0', b' ')\n"
        "    mine = open('/proc/self/cmdline', 'rb').read()\n"
        "    return 1 if b'--ro-bind' not in init and b'--args' in init and b'pytest' in mine else init.decode()[:300]\n"
    )
    ev = await evaluator.evaluate(task(), code)
    assert ev.verdict == "passed", ev.message + ev.output
