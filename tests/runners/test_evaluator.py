"""SandboxEvaluator on asserts tasks and project tasks (real sandbox, small and quick)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from runners.sandbox import bwrap as sandbox
from runners.testing.evaluator import SandboxEvaluator, fastest_runtime
from search.types import Evaluation, Evaluator, Task

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"
SLUG_TESTS = [f"tests/test_words.py::test_slugify_{n}" for n in ("simple", "punctuation", "runs")]
GOOD_SLUG = (
    "import re\n\ndef slugify(title: str) -> str:\n    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n"
)


def square_task(**kw) -> Task:
    return Task(
        id="sq",
        problem="square",
        entry_point="f",
        tests=["assert f(2) == 4", "assert f(3) == 9"],
        hidden_tests=["assert f(-1) == 1", "assert f(0) == 0", "assert f(10) == 100"],
        **kw,
    )


@pytest.fixture
async def evaluator():
    ev = SandboxEvaluator(timeout_s=8.0)
    yield ev
    ev.close()


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLE, dest)
    return dest


def slug_task(project: Path, tests=SLUG_TESTS) -> Task:
    return Task(
        id="slug",
        problem="",
        entry_point="slugify",
        kind="project",
        project=str(project),
        target="src/textkit/words.py::slugify",
        tests=list(tests),
    )


def test_it_is_an_evaluator():
    assert isinstance(SandboxEvaluator(), Evaluator)


async def test_asserts_pass_with_per_test_results(evaluator):
    ev = await evaluator.evaluate(square_task(), "def f(x):\n    return x * x\n")
    assert ev.verdict == "passed" and ev.all_passed and (ev.passed, ev.total) == (2, 2)
    assert [t.id for t in ev.tests] == ["assert f(2) == 4", "assert f(3) == 9"]
    assert ev.runtime_s is not None and 0 < ev.runtime_s < ev.wall_s
    assert ev.cpu_s and ev.peak_rss_mb and ev.isolation and ev.static["cyclomatic"] == 1


async def test_hidden_tests_are_used_on_request(evaluator):
    ev = await evaluator.evaluate(square_task(), "def f(x):\n    return x * x if x > 0 else 7\n", hidden=True)
    assert ev.verdict == "failed" and (ev.passed, ev.total) == (1, 3)


async def test_failure_message_is_short_and_useful(evaluator):
    ev = await evaluator.evaluate(square_task(), "def f(x):\n    return x + x + 1\n")
    assert ev.verdict == "failed" and ev.passed == 0
    message = ev.tests[0].message
    assert "assert 5 == 4" in message and "f(2)" in message and len(message) <= 1500


async def test_long_failure_messages_are_trimmed(evaluator):
    t = Task(id="long", problem="", entry_point="f", tests=["assert f() == 'y' * 5000"])
    ev = await evaluator.evaluate(t, "def f():\n    return 'x' * 5000\n")
    assert ev.verdict == "failed" and len(ev.tests[0].message) <= 1500


async def test_uncompilable_candidates_are_errors_and_nothing_runs(evaluator, monkeypatch):
    sandboxed = []

    async def no_sandbox(*args, **kwargs):
        sandboxed.append(args)
        raise AssertionError("an uncompilable candidate reached the sandbox")

    monkeypatch.setattr("runners.testing.evaluator.run_sandboxed", no_sandbox)
    for code, why in (("def f(x) return", "syntax error"), ("def g(x):\n    return x\n", "does not define f")):
        ev = await evaluator.evaluate(square_task(), code)
        assert ev.verdict == "error" and why in ev.message and ev.passed == 0 and ev.total == 2
    assert sandboxed == []


async def test_setup_code_runs_first(evaluator):
    t = Task(
        id="s", problem="", entry_point="f", test_setup="import math\nK = 3", tests=["assert f(K) == math.factorial(3)"]
    )
    ev = await evaluator.evaluate(t, "import math\ndef f(n):\n    return math.factorial(n)\n")
    assert ev.verdict == "passed"


async def test_an_exception_at_import_fails_every_test(evaluator):
    ev = await evaluator.evaluate(square_task(), "raise ValueError('boom')\ndef f(x):\n    return x\n")
    assert ev.verdict == "failed" and ev.passed == 0 and "boom" in ev.message


async def test_a_skip_from_the_candidate_is_not_a_skip(evaluator):
    ev = await evaluator.evaluate(square_task(), "import pytest\ndef f(x):\n    pytest.skip('no')\n")
    assert ev.verdict == "suspicious" and ev.passed == 0 and ev.tests[0].outcome == "suspicious"
    assert "calls skip from its own code" in ev.tests[0].message
    ev = await evaluator.evaluate(square_task(), "import pytest\ndef f(x):\n    pytest.xfail('no')\n")
    assert ev.verdict == "suspicious" and "calls xfail from its own code" in ev.tests[0].message


async def test_repeat_takes_the_minimum_runtime(evaluator):
    code = "def f(x):\n    return x * x\n"
    ev = await evaluator.evaluate(square_task(), code, repeat=3)
    assert ev.verdict == "passed" and "min of 3 runs" in ev.message
    assert await evaluator.measure_runtime(square_task(), code, 2) > 0
    assert await evaluator.measure_runtime(square_task(), "def f(x):\n    return 0\n", 2) is None


async def test_project_candidate_is_spliced_into_a_copy(evaluator, project):
    original = (project / "src/textkit/words.py").read_text()
    ev = await evaluator.evaluate(slug_task(project), GOOD_SLUG)
    assert ev.verdict == "passed" and (ev.passed, ev.total) == (3, 3), ev.message
    assert [t.id for t in ev.tests] == SLUG_TESTS
    bad = await evaluator.evaluate(slug_task(project), "def slugify(title):\n    return title\n")
    assert bad.verdict == "failed" and "hello-world" in bad.tests[0].message
    assert (project / "src/textkit/words.py").read_text() == original


async def test_project_splice_errors(evaluator, project):
    ev = await evaluator.evaluate(slug_task(project), "def other():\n    pass\n")
    assert ev.verdict == "error" and ev.message
    ev = await evaluator.evaluate(slug_task(project), "def slugify(:\n")
    assert ev.verdict == "error"


async def test_project_ids_expand_to_what_pytest_collected(evaluator, project):
    t = Task(
        id="c",
        problem="",
        entry_point="Counter.add",
        kind="project",
        project=str(project),
        target="src/textkit/words.py::Counter.add",
        tests=["tests/test_words.py::TestCounter"],
    )
    code = (
        "def add(self, text):\n    for w in text.lower().split():\n        self.counts[w] = self.counts.get(w, 0) + 1\n"
    )
    ev = await evaluator.evaluate(t, code)
    assert ev.verdict == "passed" and ev.tests[0].id.startswith("tests/test_words.py::TestCounter::")


async def test_a_missing_test_id_fails(evaluator, project):
    ev = await evaluator.evaluate(slug_task(project, SLUG_TESTS + ["tests/test_words.py::test_nope"]), GOOD_SLUG)
    # pytest refuses the whole run when an id does not exist: nothing passes, and we say why.
    assert ev.verdict == "failed" and ev.total == 4 and "test_nope" in ev.message


async def test_a_changed_project_gets_a_fresh_template(evaluator, project):
    assert (await evaluator.evaluate(slug_task(project), GOOD_SLUG)).verdict == "passed"
    test_file = project / "tests/test_words.py"
    test_file.write_text(test_file.read_text().replace('"hello-world"', '"HELLO-world"', 1))
    assert (await evaluator.evaluate(slug_task(project), GOOD_SLUG)).verdict == "failed"


async def test_the_pool_is_bounded(project):
    ev = SandboxEvaluator(workers=2)
    try:
        running, peak = 0, 0
        real = ev._run_pytest

        async def counting(*args, **kw):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                return await real(*args, **kw)
            finally:
                running -= 1

        ev._run_pytest = counting
        results = await asyncio.gather(*(ev.evaluate(square_task(), "def f(x):\n    return x * x\n") for _ in range(5)))
        assert all(r.verdict == "passed" for r in results) and peak == 2
        assert [p for p in ev.workspaces.root.iterdir() if p.name.startswith("run-")] == []
    finally:
        ev.close()


async def test_fallback_without_namespaces_says_so(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: (False, "namespaces disabled for this test"))
    ev = SandboxEvaluator(timeout_s=5)
    try:
        result = await ev.evaluate(square_task(), "def f(x):\n    return x * x\n")
        assert result.verdict == "passed" and result.isolation == "rlimits-only"
        report = sandbox.isolation_report()
        assert report["isolation"] == "rlimits-only" and "WEAK" in " ".join(report["notes"])
    finally:
        ev.close()


async def test_fallback_still_kills_orphans_in_new_sessions(monkeypatch):
    from tests.runners.test_sandbox_hostile import processes_with

    monkeypatch.setattr(sandbox, "bwrap_works", lambda: (False, "namespaces disabled for this test"))
    ev = SandboxEvaluator(timeout_s=5)
    try:
        code = (
            "import subprocess\ndef f(x):\n    subprocess.Popen(['sh', '-c', 'sleep 300; echo orpsfallbackmark'],"
            " start_new_session=True)\n    return x * x\n"
        )
        assert (await ev.evaluate(square_task(), code)).verdict == "passed"
        deadline = time.time() + 2
        while processes_with("orpsfallbackmark") and time.time() < deadline:
            time.sleep(0.1)
        assert processes_with("orpsfallbackmark") == []
    finally:
        ev.close()


def test_isolation_report_shape():
    report = sandbox.isolation_report()
    assert set(report) >= {"available", "isolation", "bwrap", "notes"} and report["isolation"]


def test_evaluations_round_trip_through_json():
    ev = Evaluation(verdict="passed", passed=1, total=1, isolation="bwrap")
    assert Evaluation.from_dict(ev.to_dict()) == ev


async def test_dataset_tests_may_write_files_in_their_directory(evaluator):
    t = Task(
        id="w",
        problem="",
        entry_point="f",
        test_setup="open('data.csv', 'w').write('a,b\\n')",
        tests=["assert f('data.csv') == 'a,b\\n'"],
    )
    ev = await evaluator.evaluate(t, "def f(path):\n    return open(path).read()\n")
    assert ev.verdict == "passed", ev.message


def test_python_under_tmp_stays_visible_in_the_sandbox(monkeypatch, tmp_path):
    """A virtualenv or checkout under /tmp (CI clones) is bound back over the private /tmp."""
    from runners.sandbox import bwrap as sandbox
    from runners.sandbox.caps import Limits

    venv = tmp_path / "orps-fake-venv"  # under /tmp too; only existing paths are bound
    venv.mkdir()
    monkeypatch.setattr(sandbox, "_python_paths", lambda: {venv.resolve(), Path("/usr/lib").resolve()})
    cmd = sandbox.build_command(["true"], tmp_path, Limits(), {}, use_bwrap=True)
    tmpfs_at = max(i for i, a in enumerate(cmd) if a == "--tmpfs" and cmd[i + 1] == "/tmp")
    bind = [i for i in range(len(cmd) - 2) if cmd[i] == "--ro-bind" and cmd[i + 1] == str(venv.resolve())]
    assert bind and bind[0] > tmpfs_at


needs_bwrap = pytest.mark.skipif(not sandbox.bwrap_works()[0], reason="namespaces unavailable here")


@needs_bwrap
async def test_evaluations_run_warm_by_default_and_say_so(evaluator, project):
    ev = await evaluator.evaluate(square_task(), "def f(x):\n    return x * x\n")
    assert ev.verdict == "passed" and ev.isolation.endswith("+warm"), ev.isolation
    ev = await evaluator.evaluate(slug_task(project), GOOD_SLUG)
    assert ev.verdict == "passed" and ev.isolation.endswith("+warm"), ev.isolation


@needs_bwrap
async def test_cold_when_asked_or_when_a_plugin_wants_its_own_process(project, monkeypatch):
    cold = SandboxEvaluator(timeout_s=8.0, warm=False)
    try:
        ev = await cold.evaluate(square_task(), "def f(x):\n    return x * x\n")
        assert ev.verdict == "passed" and ev.isolation.endswith("+cold")
    finally:
        cold.close()
    (project / "tests" / "test_async.py").write_text(
        "import pytest\nfrom textkit.words import slugify\n\n@pytest.mark.asyncio\nasync def test_a():\n"
        "    assert slugify('A b') == 'a-b'\n"
    )
    monkeypatch.setattr("runners.testing.evaluator.COLD_PLUGINS", ("pytest_asyncio",))
    ev = SandboxEvaluator(timeout_s=8.0)
    try:
        task = Task(
            id="a",
            problem="",
            entry_point="slugify",
            kind="project",
            project=str(project),
            target="src/textkit/words.py::slugify",
            tests=["tests/test_async.py::test_a"],
        )
        result = await ev.evaluate(task, GOOD_SLUG)
        assert result.verdict == "passed" and result.isolation.endswith("+cold"), result.message
    finally:
        ev.close()


@needs_bwrap
async def test_a_worker_that_cannot_start_means_cold_runs():
    from runners.testing.warm import WarmWorker

    ev = SandboxEvaluator(timeout_s=8.0)
    ev._warm_worker = WarmWorker("/bin/false", {})  # ends at once, never ready
    try:
        result = await ev.evaluate(square_task(), "def f(x):\n    return x * x\n")
        assert result.verdict == "passed" and result.isolation.endswith("+cold")
        assert ev._warm_worker.broken
    finally:
        ev.close()


def test_repeated_runs_take_the_fastest_trusted_runtime():
    """A run whose tests claimed more time than the run took has no runtime (not trusted):
    a candidate that forges durations in one of several timing runs neither crashes the
    evaluation nor sets its runtime."""
    runs = [Evaluation("passed", 1, 1, runtime_s=t) for t in (0.30, None, 0.10, 0.20)]
    assert fastest_runtime(runs) == (0.10, "runtime: min of 3 runs (median 0.200000 s)")
    forged = [Evaluation("passed", 1, 1, runtime_s=None) for _ in range(3)]
    assert fastest_runtime(forged) == (None, "runtime: none of 3 runs has a runtime that can be trusted")
