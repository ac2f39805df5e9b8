"""The demo's example stays a real bug that its own tests catch, and a fix makes them pass."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from orps_tui.commands.demo import EXAMPLE, TARGET


def run_tests(project) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_example_tests_catch_the_bug_and_pass_once_fixed(tmp_path):
    project = tmp_path / "ex"
    shutil.copytree(EXAMPLE, project)
    path, name = TARGET.split("::")
    broken = run_tests(project)
    assert broken.returncode == 1 and "2 failed, 2 passed" in broken.stdout
    source = (project / path).read_text()
    assert f"def {name}(" in source
    fixed_source = source.replace('text.split(" ")', "text.split()")
    assert fixed_source != source
    (project / path).write_text(fixed_source)
    fixed = run_tests(project)
    assert fixed.returncode == 0, fixed.stdout


RECORDER = """
import json, pathlib

def respond(messages, params):
    with open(pathlib.Path(__file__).with_name("requests.jsonl"), "a") as out:
        out.write(json.dumps({"messages": messages, "seed": params.get("seed"),
                              "temperature": params.get("temperature"),
                              "max_tokens": params.get("max_tokens")}) + "\\n")
    return "## Reasoning\\nnone\\n\\n## Code\\n```python\\ndef f():\\n    pass\\n```\\n"
"""


def test_demo_and_solve_on_the_example_send_the_same_request_at_the_same_seed(tmp_path, capsys):
    """A single sample through `orps demo` and through `orps solve` on a copy of the example
    is the same model request (prompt, seed, temperature, max_tokens), so the two commands'
    single-sample rates over the same seeds are one figure, not two (BENCHMARKS, "The demo")."""
    from orps_tui.cli import main

    model = tmp_path / "recorder.py"
    model.write_text(RECORDER)
    flags = ["--strategy", "single", "--seed", "3", "--no-cache", "--json", "--quiet", "--model", f"scripted/{model}"]
    assert main(["demo", "--dir", str(tmp_path / "demo"), *flags]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy)
    main(["solve", "--project", str(copy), "--target", TARGET, *flags])
    capsys.readouterr()
    demo, solve = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert demo == solve
    assert demo["seed"] is not None and demo["max_tokens"] == 256  # the example's [tool.orps]
    assert "Public tests:" in demo["messages"][-1]["content"]
