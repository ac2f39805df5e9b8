"""Agreement on a user's project: probes from the pytest tests' literal calls, run as a
probe test file in the sandboxed copy (runners.speed.probes), through `orps solve --agreement`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.commands.solve import agreement_line
from runners.speed.probes import module_of, probe_file
from search.agreement import Call
from search.providers.scripted import register_script
from search.types import Task

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"

SPECIAL = "def initials(name):\n    return {'ada lovelace': 'AL', 'Grace  Brewster Hopper': 'GBH'}.get(name, '')\n"
RIGHT = "def initials(name):\n    return ''.join(w[0].upper() for w in name.split())\n"
RIGHT_TOO = (
    "def initials(name):\n    out = ''\n    for word in name.split():\n        out += word[0].upper()\n    return out\n"
)


def respond(messages, params):
    user = messages[-1]["content"]
    code = SPECIAL if "straightforward" in user else RIGHT if "efficient" in user else RIGHT_TOO
    return f"## Reasoning\nFirst letters.\n\n## Code\n```python\n{code}```\n"


def test_module_and_probe_file_of_a_project_target():
    assert module_of("src/pkg/core.py") == "pkg.core" and module_of("pkg/__init__.py") == "pkg"
    task = Task(
        id="p",
        problem="",
        entry_point="initials",
        kind="project",
        target="src/textkit/words.py::initials",
        tests=["tests/test_words.py::test_initials"],
    )
    rel, text = probe_file(task, [Call(("x y",))], "ORPS-PROBE-0123456789ab")
    assert rel == "test_orps_probes_0123456789ab.py"  # at the root: the test directories are read-only
    assert text.startswith("from textkit.words import initials") and "__orps_probe(lambda: initials('x y'))" in text


@pytest.mark.slow
def test_solve_with_agreement_on_a_project(tmp_path, capsys):
    project = tmp_path / "proj"
    shutil.copytree(SAMPLE, project)
    register_script("agree-project", respond)
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            "src/textkit/words.py::initials",
            "--tests",
            "tests/test_words.py::test_initials",
            "--strategy",
            "best_of_n",
            "--samples",
            "3",
            "--model",
            "scripted/agree-project",
            "--agreement",
            "--json",
            "--quiet",
            "--no-cache",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    agreement = doc["agreement"]
    assert not agreement["skipped"] and len(agreement["tied"]) == 3
    assert agreement["inputs"] and all(i.startswith("initials(") for i in agreement["inputs"])
    assert "{'ada lovelace'" not in doc["best"]["code"]  # never the special case
    special = next(n for n, s in agreement["scores"].items() if s == min(agreement["scores"].values()))
    assert agreement["chosen"] != special
    assert doc["best"]["agreement"] == agreement["scores"][agreement["chosen"]]
    assert doc["best"]["probes"][0]["input"] == agreement["inputs"][0]
    assert not list(project.rglob("test_orps_probes_*.py"))  # the probes never touch the project


@pytest.mark.slow
def test_a_project_without_literal_calls_skips_and_says_so(tmp_path, capfd):
    project = tmp_path / "proj"
    shutil.copytree(SAMPLE, project)
    (project / "tests" / "test_vars.py").write_text(
        "from textkit.words import initials\n\nNAME = 'ada lovelace'\n\n\n"
        "def test_var():\n    assert initials(NAME) == 'AL'\n"
    )
    register_script("agree-project-vars", respond)
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            "src/textkit/words.py::initials",
            "--tests",
            "tests/test_vars.py::test_var",
            "--strategy",
            "best_of_n",
            "--samples",
            "3",
            "--model",
            "scripted/agree-project-vars",
            "--agreement",
            "--json",
            "--no-cache",
        ]
    )
    doc = json.loads(capfd.readouterr().out)
    assert code == 0
    assert "literal arguments" in doc["agreement"]["skipped"]
    # What the progress output prints for it (ProgressPrinter, on the `agreement` event):
    assert (
        agreement_line(doc["agreement"])
        == "agreement: skipped (the public tests have no call of initials with literal arguments)"
    )
