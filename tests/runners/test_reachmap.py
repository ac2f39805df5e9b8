"""The reach map: the suite run once says which tests run a function that static selection
cannot follow. Shaped like tomlkit 0.13.2: `escape_string` in `_utils.py` runs under
`String.from_raw`, under `item`, under `dumps`, three calls below what the tests write; a
candidate that stops escaping tabs passed the 6 tests selected statically and fails 1 of the
469 that run it."""

from __future__ import annotations

import json
import textwrap

import pytest

from orps_tui.cli import main
from runners.code.locate import locate
from runners.testing import reachmap
from runners.testing.testselect import NoTestsFound, select_tests

FILES = {
    "src/tomlish/__init__.py": "from tomlish.api import dumps\n",
    "src/tomlish/_utils.py": '''
def escape_string(s):
    """Escape backslashes, quotes and tabs for a TOML basic string."""
    return s.replace("\\\\", "\\\\\\\\").replace('"', '\\\\"').replace("\\t", "\\\\t")
''',
    "src/tomlish/items.py": """
from tomlish._utils import escape_string


class String:
    def __init__(self, text):
        self.text = text

    @classmethod
    def from_raw(cls, value):
        return cls('"' + escape_string(value) + '"')
""",
    "src/tomlish/api.py": """
from tomlish.items import String


def item(value):
    if isinstance(value, str):
        return String.from_raw(value)
    return String(str(value))


def dumps(data):
    return "".join(f"{key} = {item(value).text}\\n" for key, value in data.items())
""",
    "tests/test_api.py": """
import pytest

import tomlish


def test_dumps_number():
    assert tomlish.dumps({"a": 1}) == "a = 1\\n"


@pytest.mark.parametrize("raw, shown", [("x", '"x"'), ('say "hi"', '"say \\\\"hi\\\\""'), ("a\\tb", '"a\\\\tb"')])
def test_dumps_strings(raw, shown):
    assert tomlish.dumps({"a": raw}) == f"a = {shown}\\n"
""",
    "pyproject.toml": '[project]\nname = "tomlish"\nversion = "0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n',
}

NO_TABS = '''def escape_string(s):
    """Escape backslashes and quotes for a TOML basic string."""
    return s.replace("\\\\", "\\\\\\\\").replace('"', '\\\\"')
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "tomlish"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip())
    return root


def _map(project, functions, durations=None):
    made = reachmap.ReachMap(
        str(project.resolve()),
        "2026-12-07T19:00:00",
        reachmap.python_stamps(project),
        functions,
        tests=3,
        durations=durations or {},
    )
    reachmap.save(made)
    return made


def test_static_selection_cannot_follow_the_helper_that_far(project):
    with pytest.raises(NoTestsFound):
        select_tests(project, locate(project, "src/tomlish/_utils.py::escape_string"))


def test_the_maps_tests_are_selected_with_their_reason(project):
    _map(project, {"src/tomlish/_utils.py": {"escape_string": ["tests/test_api.py::test_dumps_strings"]}})
    selection = select_tests(project, locate(project, "src/tomlish/_utils.py::escape_string"))
    assert selection.node_ids == ["tests/test_api.py::test_dumps_strings"]
    assert selection.reasons["tests/test_api.py::test_dumps_strings"] == (
        "ran escape_string (reach map of 2026-12-07T19:00:00)"
    )
    assert "def test_dumps_strings" in selection.source


def test_a_test_gone_since_the_map_was_made_is_not_selected(project):
    _map(
        project,
        {"src/tomlish/api.py": {"dumps": ["tests/test_api.py::test_dumps_strings", "tests/test_api.py::test_removed"]}},
    )
    selection = select_tests(project, locate(project, "src/tomlish/api.py::dumps"))
    assert "tests/test_api.py::test_removed" not in selection.node_ids
    assert set(selection.node_ids) == {"tests/test_api.py::test_dumps_number", "tests/test_api.py::test_dumps_strings"}


def test_the_map_says_which_files_changed_since(project):
    _map(project, {})
    assert reachmap.load(project).changed == []
    (project / "src/tomlish/_utils.py").write_text(NO_TABS)
    (project / "src/tomlish/new.py").write_text("X = 1\n")
    loaded = reachmap.load(project)
    assert loaded.changed == ["src/tomlish/_utils.py", "src/tomlish/new.py"]
    assert loaded.summary() == "reach map of 2026-12-07T19:00:00; 2 Python files changed since"


def test_a_map_of_another_format_or_project_is_not_used(project):
    made = _map(project, {})
    path = reachmap.map_file(project)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format": 0}))
    assert reachmap.load(project) is None
    path.write_text("{not json")
    assert reachmap.load(project) is None
    assert made.tests_reaching("src/tomlish/api.py", "dumps") == []


def test_the_time_limit_grows_with_what_the_map_says_the_tests_take(project):
    from runners.testing.evaluator import SandboxEvaluator
    from search.types import Task

    _map(project, {}, durations={"tests/test_api.py::test_dumps_strings": 30.0})
    task = Task(
        id="t",
        problem="",
        entry_point="dumps",
        kind="project",
        project=str(project),
        target="src/tomlish/api.py::dumps",
    )
    evaluator = SandboxEvaluator(timeout_s=10)
    assert evaluator._limits_for(task, ["tests/test_api.py::test_dumps_number"]) is None  # unknown: as set
    limits = evaluator._limits_for(task, ['tests/test_api.py::test_dumps_strings[x-"x"]'])
    assert limits is not None and limits.timeout_s == 65.0 and limits.memory_mb == evaluator.limits.memory_mb


def test_parameters_are_one_test_in_the_map():
    assert reachmap._without_parameters("tests/t.py::C::test_x[a::b-1]") == "tests/t.py::C::test_x"
    assert reachmap._without_parameters("tests/t.py::test_y") == "tests/t.py::test_y"


@pytest.mark.slow
def test_check_map_runs_the_suite_once_and_then_catches_what_static_selection_missed(project, tmp_path, capsys):
    from runners.sandbox import bwrap as sandbox

    if not sandbox.bwrap_works()[0]:
        pytest.skip("namespaces unavailable here")
    target = "src/tomlish/_utils.py::escape_string"
    assert main(["check", "--project", str(project), target, "--map", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "orps: mapped 4 tests" in err
    report = json.loads(out)
    assert report["reach_map"]["tests"] == 4
    ids = [t["id"] for t in report["tests"]]  # the number test reaches no escaping: left out
    assert len(ids) == 3 and all(i.startswith("tests/test_api.py::test_dumps_strings[") for i in ids)
    assert {t["selected"] for t in report["tests"]} == {f"ran escape_string ({reachmap.load(project).summary()})"}
    # The map stays: a later check selects the same tests without running the suite, and a
    # candidate that stops escaping tabs fails one of them.
    candidate = tmp_path / "no_tabs.py"
    candidate.write_text(NO_TABS)
    assert main(["check", "--project", str(project), target, "--candidate", str(candidate)]) == 1
    out, err = capsys.readouterr()
    assert "2/3 passed" in out and "mapping" not in err
