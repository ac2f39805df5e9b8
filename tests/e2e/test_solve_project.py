"""End to end on the sample project: real test selection, real sandbox, scripted model,
patches that `git apply` accepts, and applying that refuses to lose work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from orps_tui.cli import main
from orps_tui.schema import validate
from search.providers.scripted import register_script
from tests.support import answering_by_name, git_project

SAMPLE = Path(__file__).parents[1] / "fixtures" / "sample_project"
WORDS = "src/textkit/words.py"

ANSWERS = {
    "slugify": "## Reasoning\nUse a regex for runs.\n\n## Code\n```python\nimport re\n\ndef slugify(title):\n"
    "    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n```\n",
    "initials": "```python\ndef initials(name):\n    return ''.join(w[0].upper() for w in name.split())\n```",
    "common_words": "```python\ndef common_words(a, b):\n    seen, wanted, out = set(), set(b), []\n"
    "    for w in a:\n        if w in wanted and w not in seen:\n            seen.add(w)\n"
    "            out.append(w)\n    return out\n```",
    "add": "```python\ndef add(self, text):\n    for word in text.lower().split():\n"
    "        self.counts[word] = self.counts.get(word, 0) + 1\n```",
    "fetch_title": "```python\nasync def fetch_title(text):\n    return text.splitlines()[0].strip()\n```",
}

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path):
    register_script("sample", answering_by_name(ANSWERS, "Correct.\nScore: 5/5"))
    return git_project(SAMPLE, tmp_path / "proj")


def solve(project: Path, target: str, *extra: str, capsys) -> tuple[int, dict]:
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            target,
            "--model",
            "scripted/sample",
            "--json",
            "--quiet",
            "--no-cache",
            *extra,
        ]
    )
    out = capsys.readouterr().out
    doc = json.loads(out)
    validate("solve", doc)
    return code, doc


def test_fix_a_bug_then_apply_safely(project, capsys, tmp_path):
    patch_file = tmp_path / "fix.patch"
    code, doc = solve(project, f"{WORDS}::slugify", "--patch-out", str(patch_file), capsys=capsys)
    assert code == 0 and doc["status"] == "solved"
    assert doc["tests"] == [
        "tests/test_words.py::test_slugify_simple",
        "tests/test_words.py::test_slugify_punctuation",
        "tests/test_words.py::test_slugify_runs",
    ]
    assert doc["original"]["passed"] == 1 and doc["best"]["passed"] == 3
    assert doc["baseline"] == doc["original"]  # the older name of the same field stays
    assert doc["settings"]["samples"] == 2  # from [tool.orps] in the project's pyproject.toml
    patch = patch_file.read_text()
    assert patch == doc["patch"]
    subprocess.run(["git", "apply", "--check", str(patch_file)], cwd=project, check=True)
    subprocess.run(["patch", "-p1", "--dry-run", "-s", "-i", str(patch_file)], cwd=project, check=True)
    before = (project / WORDS).read_text()
    assert main(["apply", str(patch_file), "--project", str(project)]) == 0
    after = (project / WORDS).read_text()
    assert "re.sub" in after and after != before
    # Applying twice is refused and changes nothing.
    assert main(["apply", str(patch_file), "--project", str(project)]) == 1
    assert (project / WORDS).read_text() == after
    assert "already applied" in capsys.readouterr().out
    # Tests now pass in the real project.
    result = subprocess.run(
        ["python", "-m", "pytest", "-q", "-k", "slugify"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    # Revert puts the original back.
    assert main(["apply", "--revert", "--project", str(project)]) == 0
    assert (project / WORDS).read_text() == before


def test_stale_patch_is_refused_with_the_file_intact(project, capsys):
    code, doc = solve(project, f"{WORDS}::slugify", capsys=capsys)
    assert code == 0
    path = project / WORDS
    edited = path.read_text().replace('"""Lower-case', '"""Make lower-case')  # the user edits the function
    path.write_text(edited)
    assert main(["apply", "--run", doc["run_id"], "--project", str(project)]) == 1
    assert path.read_text() == edited
    assert "changed since" in capsys.readouterr().out


def test_fill_in_a_missing_function(project, capsys):
    code, doc = solve(project, f"{WORDS}::initials", capsys=capsys)
    assert code == 0 and doc["baseline"]["passed"] == 0 and doc["best"]["passed"] == 1
    assert "NotImplementedError" in doc["patch"] and "w[0].upper()" in doc["patch"]


def test_make_a_slow_function_faster(project, capsys):
    code, doc = solve(project, f"{WORDS}::common_words", "--goal", "faster", "--rounds", "1", capsys=capsys)
    assert code == 0 and doc["goal"] == "faster"
    base, best = doc["baseline"]["runtime_s"], doc["best"]["runtime_s"]
    assert base and best and best < base and doc["speedup"] > 2
    assert "set(b)" in doc["patch"]


def test_method_and_async_targets(project, capsys):
    code, doc = solve(project, f"{WORDS}::Counter.add", capsys=capsys)
    assert code == 0 and doc["best"]["passed"] == 1 and "text.lower().split()" in doc["patch"]
    code, doc = solve(project, f"{WORDS}::fetch_title", capsys=capsys)
    assert code == 0 and doc["best"]["passed"] == 1


def test_cli_flags_override_config(project, capsys):
    code, doc = solve(project, f"{WORDS}::slugify", "--samples", "3", "--strategy", "best_of_n", capsys=capsys)
    assert doc["settings"]["samples"] == 3 and doc["settings"]["strategy"] == "best_of_n"


def test_bad_input_gets_a_clear_message_and_exit_2(project, capsys):
    cases = [
        (["--target", f"{WORDS}::nope"], "no function nope"),
        (["--target", "missing.py::f"], "no file missing.py"),
        (["--target", "slugify"], "must look like"),
        (["--target", f"{WORDS}::_unused_pattern"], "has no docstring and no problem was given"),
        (["--target", f"{WORDS}::_unused_pattern", "--problem-text", "Return a regex."], "no tests"),
        (["--target", f"{WORDS}::slugify", "--problem", "nofile.md"], "problem file nofile.md does not exist"),
        (["--target", f"{WORDS}::slugify", "--samples", "0"], "samples=0"),
        (["--target", f"{WORDS}::slugify", "-k", "nomatch"], "no tests matching"),
    ]
    for args, message in cases:
        code = main(["solve", "--project", str(project), "--model", "scripted/sample", "--json", *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (args, err)
        assert "Traceback" not in err
    assert (
        subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=project, capture_output=True, text=True
        ).stdout
        == ""
    )


def test_resume_needs_only_the_run_id_and_refuses_another_task(project, capsys):
    target = f"{WORDS}::slugify"
    register_script("clueless", lambda messages, params: "I do not know.")
    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--target",
            target,
            "--model",
            "scripted/clueless",
            "--json",
            "--quiet",
            "--no-cache",
            "--budget-calls",
            "1",
            "--no-critic",
        ]
    )
    first = json.loads(capsys.readouterr().out)
    assert first["stop_reason"] == "budget" and first["usage"]["calls"] == 1
    run_id = first["run_id"]

    code = main(
        ["solve", "--project", str(project), "--resume", run_id, "--tests", "tests/test_words.py", "--json", "--quiet"]
    )
    captured = capsys.readouterr()
    assert code == 2 and "--tests would change that task" in captured.err
    assert json.loads(captured.out)["exit_code"] == 2

    code = main(
        [
            "solve",
            "--project",
            str(project),
            "--resume",
            run_id,
            "--budget-calls",
            "6",
            "--model",
            "scripted/sample",
            "--json",
            "--quiet",
        ]
    )
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["run_id"] == run_id and resumed["target"] == target
    assert resumed["usage"]["calls"] > 1 and resumed["status"] == "solved"


def test_solve_without_target_or_resume_says_what_is_missing(project, capsys):
    code = main(["solve", "--project", str(project), "--json"])
    assert code == 2 and "--target is required" in capsys.readouterr().err
