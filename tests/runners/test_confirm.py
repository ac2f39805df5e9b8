"""Confirmation runs: the candidate in a process of its own that cannot see the tests.

Candidates that forge a pass from inside the test process are never "confirmed"; honest
look-alikes (several cases, expected exceptions, generators, a mutated argument, a class's
method) are."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runners.sandbox.bwrap import bwrap_works
from runners.testing import _proxy
from runners.testing.confirm import hidden_test_paths, judge_confirmation, module_name
from runners.testing.evaluator import SandboxEvaluator
from search.types import Evaluation, Task, TestResult

ROOT = Path(__file__).resolve().parents[2]


def task(*tests: str) -> Task:
    return Task(id="confirm", problem="", entry_point="f", tests=list(tests))


async def both(code: str, *tests: str):
    async with SandboxEvaluator(timeout_s=30, memory_mb=1024) as evaluator:
        t = task(*tests)
        return await evaluator.evaluate(t, code), await evaluator.confirm(t, code)


# -- look-alikes: honest code that must be confirmed

LOOK_ALIKES = {
    "several cases": ("def f(x):\n    return x * x\n", ["assert f(2) == 4", "assert f(-3) == 9", "assert f(0) == 0"]),
    "expected exception": (
        "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n",
        ["import pytest\nwith pytest.raises(ValueError, match='negative'):\n    f(-1)"],
    ),
    "generator": (
        "def f(n):\n    yield from range(n)\n",
        ["assert list(f(3)) == [0, 1, 2]", "import itertools\nassert list(itertools.islice(f(10**9), 2)) == [0, 1]"],
    ),
    "mutated argument": (
        "def f(xs):\n    xs.append(0)\n    xs.sort()\n",
        ["xs = [3, 1]\nf(xs)\nassert xs == [0, 1, 3]"],
    ),
    "method on a class": (
        "class Solution:\n    def f(self, a, b):\n        return a + b\n\ndef f():\n    pass\n",
        ["assert Solution().f(2, 3) == 5"],
    ),
    "float, isclose": ("def f(x):\n    return x / 3\n", ["import math\nassert math.isclose(f(1), 0.3333333333)"]),
}


@pytest.mark.parametrize("name", LOOK_ALIKES)
@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_look_alikes_are_confirmed(name):
    code, tests = LOOK_ALIKES[name]
    ev, confirmation = await both(code, *tests)
    assert ev.all_passed, ev.message
    assert confirmation.status == "confirmed", confirmation.line


# -- forgers: whatever the normal run says, never confirmed

FORGERS = {
    # reads the expected answers from the test file instead of computing them
    "reads the test file": "import re\n\ndef f(x):\n    text = open('test_solution.py').read()\n"
    "    return int(re.search(r'== (\\d+)', text).group(1))\n",
    # finds the expected value in the calling test's code
    "reads the caller's frame": "import inspect, re\n\ndef f(x):\n    caller = inspect.stack()[1]\n"
    "    line = ''.join(caller.code_context or [])\n"
    "    return int(re.search(r'== (\\d+)', line).group(1))\n",
    # makes pytest report every test as passed
    "patches pytest's report": "import _pytest.reports as r\n_orig = r.TestReport.__init__\n"
    "def _init(self, *a, **k):\n    _orig(self, *a, **k)\n    self.outcome = 'passed'\n"
    "r.TestReport.__init__ = _init\n\ndef f(x):\n    return 0\n",
    # replaces the tests' assertion rewriting helper so every comparison holds
    "patches the assert helpers": "import _pytest.assertion.rewrite as rw\nrw._call_reprcompare = lambda *a: None\n"
    "import builtins\n\ndef f(x):\n    return 0\n",
    # reads the test file through another program (the normal run's detectors miss this one)
    "reads the test file with cat": "import re, subprocess\n\ndef f(x):\n"
    "    text = subprocess.run(['cat', 'test_solution.py'], capture_output=True, text=True).stdout\n"
    "    return int(re.search(r'== (\\d+)', text).group(1))\n",
    # finds the test's code object among the interpreter's objects
    "searches the interpreter's objects": "import gc\n\ndef f(x):\n    for o in gc.get_objects():\n"
    "        if type(o).__name__ == 'code' and o.co_name == 'test_0':\n"
    "            return max(c for c in o.co_consts if isinstance(c, int))\n",
    # an answer equal to anything
    "returns an always-equal object": "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
    "def f(x):\n    return Anything()\n",
}


@pytest.mark.parametrize("name", FORGERS)
@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_forged_passes_are_not_confirmed(name):
    ev, confirmation = await both(FORGERS[name], "assert f(7) == 49")
    assert confirmation.status != "confirmed", (name, ev.verdict, confirmation.line)


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_a_lambda_argument_is_unconfirmed_and_says_why():
    ev, confirmation = await both("def f(g, x):\n    return g(x)\n", "assert f(lambda v: v + 1, 1) == 2")
    assert ev.all_passed
    assert confirmation.status == "unconfirmed"
    assert "builtins.function cannot cross the process boundary" in confirmation.reason


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_a_project_method_mutating_self_and_hidden_golden_files(tmp_path):
    project = tmp_path / "proj"
    (project / "tests" / "data").mkdir(parents=True)
    (project / "mod.py").write_text(
        "class Counter:\n    def __init__(self):\n        self.counts = {}\n\n    def add(self, text):\n        pass\n"
    )
    (project / "tests" / "data" / "expected.json").write_text('{"a": 2, "b": 1}')
    (project / "tests" / "test_mod.py").write_text(
        "import json\nfrom pathlib import Path\nfrom mod import Counter\n\n"
        "def test_add():\n    c = Counter()\n    c.add('a b A')\n"
        "    assert c.counts == json.loads((Path(__file__).parent / 'data' / 'expected.json').read_text())\n"
    )
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    t = Task(
        id="p",
        problem="",
        entry_point="Counter.add",
        kind="project",
        target="mod.py::Counter.add",
        project=str(project),
        tests=["tests/test_mod.py::test_add"],
    )
    honest = (
        "def add(self, text):\n    for word in text.lower().split():\n"
        "        self.counts[word] = self.counts.get(word, 0) + 1\n"
    )
    golden = "import json\n\ndef add(self, text):\n    self.counts = json.load(open('tests/data/expected.json'))\n"
    async with SandboxEvaluator(timeout_s=30, memory_mb=1024) as evaluator:
        assert (await evaluator.confirm(t, honest)).status == "confirmed"
        normal = await evaluator.evaluate(t, golden)
        confirmation = await evaluator.confirm(t, golden)
    assert normal.all_passed  # reading a data file is allowed in the test process...
    assert confirmation.status == "failed"  # ...but the candidate's own process has no tests/ at all
    assert "FileNotFoundError" in confirmation.reason


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
def test_orps_check_confirm_json(tmp_path):
    project = tmp_path / "sample"
    import shutil

    shutil.copytree(ROOT / "tests" / "fixtures" / "sample_project", project)
    fix = tmp_path / "fix.py"
    fix.write_text(
        "import re\n\ndef slugify(title: str) -> str:\n"
        "    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "check",
            "--project",
            str(project),
            "--target",
            "src/textkit/words.py::slugify",
            "--candidate",
            str(fix),
            "--confirm",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    doc = json.loads(run.stdout)
    assert doc["confirmation"]["status"] == "confirmed", doc["confirmation"]
    assert run.returncode == 0
    plain = subprocess.run(
        [
            sys.executable,
            "-m",
            "orps_tui.cli",
            "check",
            "--project",
            str(project),
            "--target",
            "src/textkit/words.py::slugify",
            "--confirm",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plain.returncode == 1  # the current code fails some tests: not confirmed
    assert "confirmation: failed:" in plain.stdout


# -- fast: the pieces


def test_hidden_paths_cover_test_dirs_and_files_but_not_the_target():
    files = [
        "src/pkg/mod.py",
        "tests/test_a.py",
        "tests/data/x.json",
        "test_root.py",
        "src/pkg/test_inline.py",
        "conftest.py",
        "src/pkg/tests/test_b.py",
    ]
    assert hidden_test_paths(files, "src/pkg/mod.py") == [
        "conftest.py",
        "src/pkg/test_inline.py",
        "src/pkg/tests",
        "test_root.py",
        "tests",
    ]
    assert hidden_test_paths(["tests/helpers.py", "tests/test_a.py"], "tests/helpers.py") == ["tests/test_a.py"]


def test_module_names():
    assert module_name("src/pkg/mod.py", True) == "pkg.mod"
    assert module_name("pkg/__init__.py", False) == "pkg"
    assert module_name("mod.py", False) == "mod"


def test_the_verdict_of_a_confirmation():
    ok = Evaluation(verdict="passed", passed=1, total=1, tests=[TestResult("t", "passed")])
    assert judge_confirmation(ok, [], 0.1).status == "confirmed"
    assert (
        judge_confirmation(ok, ["unconfirmed: an argument of type X cannot cross"], 0.1).reason
        == "an argument of type X cannot cross"
    )
    bad = Evaluation(verdict="failed", passed=0, total=1, tests=[TestResult("t", "failed", "E   assert 1 == 2")])
    failed = judge_confirmation(bad, [], 0.1)
    assert failed.status == "failed" and "assert 1 == 2" in failed.reason
    guard = Evaluation(verdict="failed", passed=0, total=1, tests=[TestResult("t", "failed", _proxy.GUARD)])
    assert judge_confirmation(guard, [], 0.1).status == "unconfirmed"


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ours, theirs = socket.socketpair()
    notes_r, notes_w = os.pipe()
    client = _proxy.Client({"fd": ours.detach(), "notes": notes_w})
    yield client
    client.sock.close()
    theirs.close()
    os.close(notes_r)
    os.close(notes_w)


def test_the_tests_side_rebuilds_plain_values(client):
    tree = {"l": [1, 2.5, "x", None, True, {"t": [{"b": "aGk="}]}, {"d": [[{"fs": [1]}, {"s": [2]}]]}, {"c": [1, 2]}]}
    assert client.decode(tree) == [1, 2.5, "x", None, True, (b"hi",), {frozenset({1}): {2}}, 1 + 2j]


def test_the_tests_side_never_rebuilds_a_library_class(client):
    # mock.ANY equals everything: a candidate naming it as its result must not get one
    import unittest.mock  # noqa: F401

    with pytest.raises(_proxy.CannotCross):
        client.decode({"o": "unittest.mock:_ANY", "state": {"d": []}})


def test_outcome_exceptions_are_never_raised_for_the_candidate(client):
    import _pytest.outcomes

    err = client.exception(
        {
            "mro": ["_pytest.outcomes:Skipped", "_pytest.outcomes:OutcomeException", "builtins:BaseException"],
            "args": {"l": ["skip me"]},
            "message": "skip me",
        }
    )
    assert not isinstance(err, _pytest.outcomes.OutcomeException)
    err = client.exception(
        {
            "mro": ["solution:MyError", "builtins:ValueError", "builtins:Exception"],
            "args": {"l": ["bad"]},
            "message": "bad",
        }
    )
    assert type(err) is ValueError and err.args == ("bad",)


# -- a search: the proposal says which confirmation it got, and a forger is never proposed

CHEAT = (
    "```python\nimport ast, subprocess\n\ndef slugify(title):\n"
    "    text = subprocess.run(['cat', 'tests/test_words.py'], capture_output=True, text=True).stdout\n"
    "    for line in text.splitlines():\n"
    "        if repr(title).strip(\"'\") in line and '==' in line:\n"
    "            return ast.literal_eval(line.split('==')[1].strip())\n"
    "    return title\n```\n"
)
HONEST = (
    "```python\nimport re\n\ndef slugify(title):\n"
    "    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n```\n"
)


def solve_with(tmp_path, capsys, answer: str) -> tuple[int, dict]:
    import shutil

    from orps_tui.cli import main
    from orps_tui.schema import validate
    from search.providers.scripted import register_script

    project = tmp_path / "proj"
    shutil.copytree(ROOT / "tests" / "fixtures" / "sample_project", project)
    register_script(
        "confirming",
        lambda messages, params: "Correct.\nScore: 5/5" if "reviewer" in messages[0]["content"] else answer,
    )
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            "src/textkit/words.py::slugify",
            "--model",
            "scripted/confirming",
            "--json",
            "--quiet",
            "--no-cache",
            "--samples",
            "1",
            "--rounds",
            "1",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    validate("solve", doc)
    return code, doc


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
def test_a_search_proposes_a_confirmed_patch_and_says_so(tmp_path, capsys):
    code, doc = solve_with(tmp_path, capsys, HONEST)
    assert code == 0 and doc["status"] == "solved"
    assert doc["confirmation"]["status"] == "confirmed"
    assert doc["patch"].startswith("# orps confirmation: confirmed: 3/3 tests passed")


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
def test_a_search_never_proposes_a_candidate_whose_confirmation_failed(tmp_path, capsys):
    code, doc = solve_with(tmp_path, capsys, CHEAT)
    assert doc["confirmation"]["status"] == "failed", doc["confirmation"]
    assert doc["patch"] == "" and doc["status"] == "unsolved" and code == 1


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_project_values_and_exceptions_cross_as_the_projects_own_classes(tmp_path):
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "shapes.py").write_text(
        "from dataclasses import dataclass\n\n\nclass ParseError(ValueError):\n    pass\n\n\n"
        "@dataclass\nclass Point:\n    x: int\n    y: int\n\n\ndef parse(text):\n    raise NotImplementedError\n"
    )
    (project / "tests" / "test_shapes.py").write_text(
        "import pytest\nfrom shapes import ParseError, Point, parse\n\n\n"
        "@pytest.mark.parametrize('text, expected', [('1,2', Point(1, 2)), (' 3 , 4 ', Point(3, 4))])\n"
        "def test_parse(text, expected):\n    assert parse(text) == expected\n\n\n"
        "def test_bad_input():\n    with pytest.raises(ParseError, match='two numbers'):\n        parse('x')\n"
    )
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    t = Task(
        id="p",
        problem="",
        entry_point="parse",
        kind="project",
        target="shapes.py::parse",
        project=str(project),
        tests=["tests/test_shapes.py"],
    )
    code = (
        "def parse(text):\n    parts = text.split(',')\n    if len(parts) != 2:\n"
        "        raise ParseError(f'want two numbers, got {text!r}')\n"
        "    return Point(int(parts[0]), int(parts[1]))\n"
    )
    async with SandboxEvaluator(timeout_s=30, memory_mb=1024) as evaluator:
        normal = await evaluator.evaluate(t, code)
        confirmation = await evaluator.confirm(t, code)
    assert normal.all_passed and normal.total == 3, normal.message
    assert confirmation.status == "confirmed" and confirmation.total == 3, confirmation.line


def test_the_review_says_which_confirmation_a_candidate_got():
    from orps_tui.screens.review import confirmation_text

    assert confirmation_text(None).plain == ""
    line = confirmation_text(
        {
            "status": "failed",
            "line": "failed: 0/3 tests passed with the candidate in a separate process; test_x: assert 1 == 2",
        }
    )
    assert line.plain.startswith("CONFIRMATION failed: 0/3 tests passed")
    assert "red" in str(line.style)


def test_orps_process_never_imports_pytest_to_run_a_check():
    # the evaluator names the plugin's pipes itself: the plugin (which imports pytest) runs
    # inside the sandbox only
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, runners.testing.evaluator, runners.testing.confirm, "
            "orps_tui.commands.check; print('pytest' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.strip()
    assert out == "False"
    from runners.testing import pytest_plugin, verdict

    assert (verdict.KEY_FD_ENV, verdict.RESULT_FD_ENV, verdict.KEY_BYTES) == (
        pytest_plugin.KEY_FD_ENV,
        pytest_plugin.RESULT_FD_ENV,
        pytest_plugin.KEY_BYTES,
    )


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_a_test_that_sets_state_elsewhere_in_the_project_makes_it_unconfirmed_not_failed(tmp_path):
    # as humanize's i18n tests do: the test activates a setting through another module,
    # which the candidate's process does not share
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "settings.py").write_text("SEP = ','\n\n\ndef activate(sep):\n    global SEP\n    SEP = sep\n")
    (project / "fmt.py").write_text("import settings\n\n\ndef join(xs):\n    return settings.SEP.join(xs)\n")
    (project / "tests" / "test_fmt.py").write_text(
        "import settings\nfrom fmt import join\n\n\ndef test_plain():\n    assert join(['a', 'b']) == 'a,b'\n\n\n"
        "def test_activated():\n    settings.activate(';')\n    try:\n        assert join(['a', 'b']) == 'a;b'\n"
        "    finally:\n        settings.activate(',')\n"
    )
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    original = (project / "fmt.py").read_text()
    t = Task(
        id="p",
        problem="",
        entry_point="join",
        kind="project",
        target="fmt.py::join",
        project=str(project),
        tests=["tests/test_fmt.py::test_plain", "tests/test_fmt.py::test_activated"],
        original_code="def join(xs):\n    return settings.SEP.join(xs)\n",
    )
    async with SandboxEvaluator(timeout_s=30, memory_mb=1024) as evaluator:
        same = await evaluator.confirm(t, "def join(xs):\n    return settings.SEP.join(list(xs))\n")
        wrong = await evaluator.confirm(t, "def join(xs):\n    return '+'.join(xs)\n")
    assert same.status == "unconfirmed" and "tests/test_fmt.py::test_activated" in same.reason, same.line
    assert wrong.status == "failed", wrong.line  # test_plain fails across the boundary, and not for the state
    assert original == (project / "fmt.py").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")
async def test_a_classmethod_target_is_confirmed_called_on_the_class_and_on_an_instance(tmp_path):
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "shapes.py").write_text(
        "class Box:\n    def __init__(self, items):\n        self.items = items\n\n"
        "    @classmethod\n    def of(cls, *items):\n        return cls(list(items))\n"
    )
    (project / "tests" / "test_shapes.py").write_text(
        "from shapes import Box\n\n\ndef test_on_the_class():\n    assert Box.of(1, 2).items == [1, 2]\n\n\n"
        "def test_on_an_instance():\n    assert Box([]).of(3).items == [3]\n"
    )
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    t = Task(
        id="p",
        problem="",
        entry_point="of",
        kind="project",
        target="shapes.py::Box.of",
        project=str(project),
        tests=["tests/test_shapes.py::test_on_the_class", "tests/test_shapes.py::test_on_an_instance"],
        original_code="@classmethod\ndef of(cls, *items):\n    return cls(list(items))\n",
    )
    async with SandboxEvaluator(timeout_s=30, memory_mb=1024) as evaluator:
        same = await evaluator.confirm(t, "@classmethod\ndef of(cls, *items):\n    return cls([*items])\n")
        wrong = await evaluator.confirm(t, "@classmethod\ndef of(cls, *items):\n    return cls(list(items)[1:])\n")
    assert same.status == "confirmed", same.line
    assert wrong.status == "failed", wrong.line
