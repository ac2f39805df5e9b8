"""What a sandboxed run is started with: the limits set just before the command (prlimit, or
our launcher where there is none), and the one bwrap run that finds what this machine
supports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.sandbox import bwrap
from runners.sandbox.bwrap import bwrap_works
from runners.sandbox.caps import Limits
from runners.sandbox.run import run_sandboxed

pytestmark = pytest.mark.skipif(not bwrap_works()[0], reason="namespaces unavailable here")

SHOW_LIMITS = (
    "import json, resource\n"
    "print(json.dumps({name: resource.getrlimit(getattr(resource, name)) "
    "for name in ('RLIMIT_AS', 'RLIMIT_FSIZE', 'RLIMIT_CORE')}))\n"
)


@pytest.mark.parametrize("prlimit", [True, False], ids=["prlimit", "launcher"])
async def test_limits_are_set_soft_and_hard_before_the_command(tmp_path, monkeypatch, prlimit):
    if prlimit and bwrap._prlimit() is None:
        pytest.skip("no prlimit on this system")
    if not prlimit:
        monkeypatch.setattr(bwrap, "_prlimit", lambda: None)
    import sys

    limits = Limits(memory_mb=768, max_file_mb=3)
    # `-p` after the command is the command's own option, never prlimit's `--pid`
    result = await run_sandboxed([sys.executable, "-c", SHOW_LIMITS, "-p", "1"], tmp_path, limits)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["RLIMIT_AS"] == [768 << 20, 768 << 20]
    assert shown["RLIMIT_FSIZE"] == [3 << 20, 3 << 20]
    assert shown["RLIMIT_CORE"] == [0, 0]


def test_the_launcher_is_used_only_without_prlimit(monkeypatch):
    rlimit = {"as_mb": 100, "fsize_mb": 2, "nproc": 7}
    monkeypatch.setattr(bwrap, "_prlimit", lambda: "/usr/bin/prlimit")
    assert bwrap.limits_prefix(rlimit) == [
        "/usr/bin/prlimit",
        f"--as={100 << 20}",
        f"--fsize={2 << 20}",
        "--core=0",
        "--nproc=7",
        "--",
    ]
    monkeypatch.setattr(bwrap, "_prlimit", lambda: None)
    prefix = bwrap.limits_prefix(rlimit)
    assert prefix[3] == str(bwrap.LAUNCHER) and json.loads(prefix[4]) == rlimit and prefix[-1] == "--"


def test_the_combined_probe_agrees_with_each_probe_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "_shown", {})  # each probe below really runs
    project = tmp_path / "project"
    project.mkdir()
    (project / "mod.py").write_text("x = 1\n")
    shown = bwrap._try_everything(bwrap._found_bwrap(), project)
    alone = {
        "overlay": bwrap._overlay_probe(None),
        "overlay on the project": bwrap._overlay_probe(project),
        "seccomp": bwrap.seccomp_works.__wrapped__(),
        "userns disabled": bwrap.userns_disable_works.__wrapped__(),
        "tmpfs size": bwrap._tmpfs_size_supported.__wrapped__(),
    }
    if shown:
        assert shown == {"all": True, f"lower:{project.stat().st_dev}": True}
        assert all(alone.values()), alone
    else:  # something is missing here: the probes then run one by one
        assert not all(alone.values()), alone
    assert sorted(p.name for p in project.iterdir()) == ["mod.py"]  # nothing written to the project


def test_a_failed_combined_probe_leaves_each_probe_to_run_alone(tmp_path, monkeypatch):
    assert bwrap._try_everything("/bin/false", tmp_path) == {}
    monkeypatch.setattr(bwrap, "_shown", {})
    monkeypatch.setattr(bwrap, "_try_everything", lambda bwrap_path, lower: {})
    bwrap.overlay_works.cache_clear()
    try:
        bwrap.probe_in_background(tmp_path)
        assert bwrap._combined_showed("all") is False  # waits for the thread, which showed nothing
        assert bwrap.overlay_works() == bwrap._overlay_probe(None)  # asked alone, as before
    finally:
        bwrap.overlay_works.cache_clear()


def test_the_probes_answer_from_a_combined_probe_that_worked(tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "_shown", {})
    calls = []
    monkeypatch.setattr(bwrap, "_try_everything", lambda path, lower: calls.append(lower) or {"all": True})
    monkeypatch.setattr(bwrap, "_overlay_probe", lambda lower: pytest.fail("probed again"))
    bwrap.overlay_works.cache_clear()
    try:
        bwrap.probe_in_background(Path(tmp_path))
        bwrap.probe_in_background(Path(tmp_path))  # once per process
        assert bwrap.overlay_works() is True
        assert calls == [Path(tmp_path)]
    finally:
        bwrap.overlay_works.cache_clear()
