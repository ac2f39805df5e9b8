"""`# orps:` marker comments: finding them, the marker flow under `orps watch` (a real
subprocess, the real sandbox, the scripted model), and cancelling on edit."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from runners.code.markers import Marker, find_markers, strip_marker
from tests.support import cli_env, until, wait_until

SOURCE = '''import x

# orps: make this faster
@dec
def mean(xs):
    return 1


def f(a):
    # orps: handle an empty list
    return a


# a plain comment
def g():
    """doc"""
    # orps: not the first line of the body: ignored
    return 1


class C:
    def m(self):
        # orps:   fix the failing test
        pass
'''


def test_markers_above_a_def_or_first_in_its_body():
    assert find_markers(SOURCE) == [
        Marker("mean", "make this faster", 3),
        Marker("f", "handle an empty list", 10),
        Marker("C.m", "fix the failing test", 23),
    ]
    assert [m.goal for m in find_markers(SOURCE)] == ["faster", "fix", "fix"]


def test_strip_marker_removes_only_that_functions_marker():
    out = strip_marker(SOURCE, "f")
    assert "# orps: handle an empty list" not in out and "# orps: make this faster" in out
    assert out.count("\n") == SOURCE.count("\n") - 1
    assert strip_marker(SOURCE, "g") == SOURCE


STATS = 'def mean(xs):\n    """Average of xs."""\n    return sum(xs) / len(xs)\n\n\ndef lonely(x):\n    """Untested."""\n    return x\n'
TESTS = "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\ndef test_empty():\n    assert mean([]) == 0\n"
MODEL = """def respond(messages, params):
    if "reviewer" in messages[0]["content"]:
        return "Correct.\\nScore: 5/5"
    return "```python\\ndef mean(xs):\\n    \\"\\"\\"Average of xs.\\"\\"\\"\\n    return sum(xs) / len(xs) if xs else 0\\n```"
"""


def wait_for_output(path: Path, text: str, timeout: float) -> str:
    """The subprocess's output so far, once it contains `text`."""

    def output():
        return path.read_text() if path.exists() else ""

    try:
        return wait_until(lambda: text in output() and output(), timeout, f"{text!r} in {path.name}", interval=0.05)
    except AssertionError as err:
        raise AssertionError(f"{err}; output so far:\n{output()}") from None


@pytest.mark.slow
def test_marker_saved_under_watch_gives_a_proposal_that_removes_it(tmp_path):
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "stats.py").write_text(STATS)
    (project / "tests" / "test_stats.py").write_text(TESTS)
    (project / "pyproject.toml").write_text("[project]\nname = 'proj'\nversion = '0'\n")
    model = tmp_path / "model.py"
    model.write_text(MODEL)
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    env = cli_env()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orps_tui.cli",
                "watch",
                "--project",
                str(project),
                "--model",
                f"scripted/{model}",
                "--samples",
                "2",
                "--beam",
                "1",
                "--rounds",
                "1",
                "--no-cache",
                "--debounce",
                "0.2",
            ],
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    try:
        wait_for_output(err, "Ctrl+C to stop", 60)
        marked = STATS.replace("def mean(xs):\n", "# orps: handle an empty list\ndef mean(xs):\n").replace(
            '    """Untested."""\n', '    # orps: make it faster\n    """Untested."""\n'
        )
        (project / "stats.py").write_text(marked)  # the user's save
        text = wait_for_output(out, "apply:  orps apply --run ", 240)
        assert "stats.py::lonely: no tests in" in text and "no search" in text
        assert 'stats.py::mean: marker "handle an empty list" -> searching (goal fix)' in text
        assert "stats.py::mean: solved, best" in text
        assert (project / "stats.py").read_text() == marked  # watch never writes the user's files
        run_id = text.split("apply:  orps apply --run ")[1].split()[0]
        assert f"review: orps --run {run_id}" in text
        result = json.loads((project / ".orps" / "runs" / run_id / "result.json").read_text())
        assert "-# orps: handle an empty list\n" in result["patch"]
        assert "+    return sum(xs) / len(xs) if xs else 0\n" in result["patch"]
        assert "# orps: make it faster" not in result["patch"]  # another function's marker stays
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 0, err.read_text()
    assert "stopped watching" in err.read_text() and "Traceback" not in err.read_text()
    assert (project / ".orps" / "runs" / run_id / "result.json").is_file()  # finished runs are kept


async def test_editing_a_marker_cancels_its_search_and_saving_restarts_it(tmp_path):
    from orps_tui.commands import watch

    (tmp_path / "m.py").write_text("# orps: first\ndef f():\n    return 1\n")
    args = SimpleNamespace(
        jobs=1,
        model=None,
        strategy=None,
        samples=None,
        beam=None,
        rounds=None,
        budget_calls=None,
        cache=None,
        timeout_s=None,
        memory_mb=None,
    )
    mw = watch.MarkerWatch(tmp_path, args)
    started, cancelled = [], []

    async def fake_search(rel, qualname, request):
        started.append(request)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(request)
            raise

    mw.search = fake_search
    mw.changed("m.py")
    await until(lambda: started == ["first"], what="the first search starting")
    (tmp_path / "m.py").write_text("# orps: second\ndef f():\n    return 1\n")
    mw.changed("m.py")
    await until(lambda: len(started) == 2 and cancelled, what="the edit restarting the search")
    assert started == ["first", "second"] and cancelled == ["first"]
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    mw.changed("m.py")
    await until(lambda: len(cancelled) == 2, what="removing the marker cancelling its search")
    assert cancelled == ["first", "second"] and not mw.running and started == ["first", "second"]
    assert mw.skip(".orps/runs/x.py") and mw.skip(".venv/lib/a.py") and not mw.skip("m.py")
