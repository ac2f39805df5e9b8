"""The project's cached bytecode in the sandbox: reused as plain pytest reuses it, never for
the candidate's own module, and never writable by a run."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import py_compile
import sys
from pathlib import Path

import pytest

from runners.sandbox.bwrap import bwrap_works, overlay_works
from runners.sandbox.workspace import Workspaces, bytecode_suffixes
from runners.testing.evaluator import SandboxEvaluator
from runners.testing.prepare import asserts_test_file
from search.types import Task

TAG = sys.implementation.cache_tag


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("def f():\n    return 0\n")
    (root / "pkg" / "helper.py").write_text("def h():\n    return 7\n")
    (root / "tests" / "test_mod.py").write_text(
        "from pkg.helper import h\nfrom pkg.mod import f\n\n\ndef test_f():\n    assert f() == 1\n\n\n"
        "def test_h():\n    assert h() == 7\n"
    )
    for directory in ("pkg", "tests"):
        (root / directory / "__pycache__").mkdir()
    return root


def task(root: Path) -> Task:
    return Task(
        id="t",
        problem="",
        entry_point="f",
        kind="project",
        target="pkg/mod.py::f",
        project=str(root),
        tests=["tests/test_mod.py::test_f", "tests/test_mod.py::test_h"],
    )


def plant_stale_bytecode(root: Path) -> None:
    """The original's bytecode, taken without looking at the source at all: the strongest
    stale file there can be."""
    py_compile.compile(
        str(root / "pkg" / "mod.py"),
        cfile=importlib.util.cache_from_source(str(root / "pkg" / "mod.py")),
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode() + (p.read_bytes() if p.is_file() else b""))
    return h.hexdigest()


def test_the_candidates_cached_names_are_covered_and_pytests_rewritten_files_never_show(tmp_path):
    root = project(tmp_path)
    (root / "pkg" / "__pycache__" / f"mod.{TAG}.pyc").write_bytes(b"old")
    (root / "pkg" / "__pycache__" / "mod.cpython-399.pyc").write_bytes(b"other interpreter")
    for folder in ("tools", "lib", "checks"):  # beside a conftest, a rewritten file, a `python_files` match
        (root / folder / "__pycache__").mkdir(parents=True)
    (root / "tools" / "conftest.py").write_text("")
    (root / "lib" / "__pycache__" / f"util.{TAG}-pytest-8.3.4.pyc").write_bytes(b"rewritten")
    (root / "checks" / "check_x.py").write_text("")
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npython_files = ["test_*.py", "check_*.py"]\n')
    workspaces = Workspaces(copy_on_write=lambda project: True)
    try:
        prepared = workspaces.prepare(
            task(root), "def f():\n    return 1\n", task(root).tests, asserts_test_file, bytecode_suffixes(TAG, "8.3.4")
        )
        ws = prepared.path
        covered = {dest.name for source, dest in prepared.mounts if dest.parent == ws / "pkg" / "__pycache__"}
        assert covered == {
            f"mod.{TAG}.pyc",
            f"mod.{TAG}.opt-1.pyc",
            f"mod.{TAG}.opt-2.pyc",
            f"mod.{TAG}-pytest-8.3.4.pyc",
            "mod.cpython-399.pyc",
        }
        assert all(source.read_bytes() == b"" for source, dest in prepared.mounts if dest.suffix == ".pyc")
        hidden = {dest for source, dest in prepared.mounts if source == prepared.snapshot.empty_dir}
        # the package's other modules' cache shows through the overlay
        assert ws / "pkg" / "__pycache__" not in hidden
        assert {ws / folder / "__pycache__" for folder in ("tools", "lib", "checks")} <= hidden
        # the frozen test directory keeps its copy's empty cache: the project's is never bound there
        assert not any(source == root / "tests" / "__pycache__" for source, _ in prepared.mounts)
        assert list((prepared.snapshot.dir / "tests" / "__pycache__").iterdir()) == []
        workspaces.release(prepared)
        # a test file at the root, named on the command line: pytest rewrites it, so its
        # rewritten file is covered (the root's cache otherwise shows)
        (root / "test_top.py").write_text("def test_top():\n    pass\n")
        (root / "__pycache__").mkdir()
        top = task(root)
        top.tests = ["test_top.py::test_top"]
        prepared = workspaces.prepare(
            top, "def f():\n    return 1\n", top.tests, asserts_test_file, bytecode_suffixes(TAG, "8.3.4")
        )
        at_root = {dest.name for source, dest in prepared.mounts if dest.parent == prepared.path / "__pycache__"}
        assert at_root == {f"test_top.{TAG}-pytest-8.3.4.pyc"}
        workspaces.release(prepared)
        unknown = workspaces.prepare(task(root), "def f():\n    return 1\n", task(root).tests, asserts_test_file, None)
        assert (unknown.snapshot.empty_dir, unknown.path / "pkg" / "__pycache__") in unknown.mounts
        workspaces.release(unknown)
    finally:
        workspaces.close()


sandboxed = pytest.mark.skipif(not (bwrap_works()[0] and overlay_works()), reason="no overlays in a sandbox here")


@pytest.fixture
async def evaluator():
    ev = SandboxEvaluator(timeout_s=20.0, warm=False)
    yield ev
    ev.close()


@sandboxed
@pytest.mark.slow
async def test_bytecode_of_the_original_never_stands_in_for_the_candidate(tmp_path, evaluator):
    root = project(tmp_path)
    plant_stale_bytecode(root)
    ev = await evaluator.evaluate(task(root), "def f():\n    return 1\n")
    assert (ev.verdict, ev.passed) == ("passed", 2), ev.message
    ev = await evaluator.evaluate(task(root), "def f():\n    return 0\n")
    assert (ev.verdict, ev.passed) == ("failed", 1), ev.message


@sandboxed
@pytest.mark.slow
async def test_a_run_cannot_write_the_bytecode_the_next_run_reads(tmp_path, evaluator):
    root = project(tmp_path)
    before = {d: digest(root / d / "__pycache__") for d in ("pkg", "tests")}
    planted = (
        "def f():\n"
        "    import os, py_compile\n"
        "    here = os.path.dirname(__file__)\n"
        "    src = os.path.join(here, 'helper.py')\n"
        "    open('/tmp/helper.py', 'w').write('def h():\\n    return 8\\n')\n"
        f"    for cache in (os.path.join(here, '__pycache__', 'helper.{TAG}.pyc'),\n"
        f"                  os.path.join(here, '..', 'tests', '__pycache__', 'planted.{TAG}.pyc')):\n"
        "        try:\n"
        "            py_compile.compile('/tmp/helper.py', cfile=cache, dfile=src,\n"
        "                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
        "        except Exception:\n"
        "            pass\n"
        "    return 1\n"
    )
    ev = await evaluator.evaluate(task(root), planted)
    assert ev.verdict == "passed", ev.message
    assert {d: digest(root / d / "__pycache__") for d in ("pkg", "tests")} == before
    ev = await evaluator.evaluate(task(root), "def f():\n    return 1\n")
    assert (ev.verdict, ev.passed) == ("passed", 2), ev.message  # h() is still the project's 7


@sandboxed
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
async def test_a_project_owned_by_another_user_runs_and_its_bytecode_still_never_stands_in(tmp_path, evaluator):
    # Sources unpacked as root keep their archive's owners (toolz: uid 1001); the sandbox's
    # user namespace cannot make files in their directories, and every run crashed.
    root = project(tmp_path)
    plant_stale_bytecode(root)
    for path in [root, *root.rglob("*")]:
        os.chown(path, 1001, 1001)
    ev = await evaluator.evaluate(task(root), "def f():\n    return 1\n")
    assert (ev.verdict, ev.passed) == ("passed", 2), ev.message
    ev = await evaluator.evaluate(task(root), "def f():\n    return 0\n")
    assert (ev.verdict, ev.passed) == ("failed", 1), ev.message


def cached_rewrite(root: Path, rel: str, *, by_hash: bool = False, stale: bool = False, pytest_version="8.3.4") -> Path:
    """A cached rewrite of the test file `rel` where pytest puts one, as pytest before 9
    stamps it (flags 0: the source's time and size) or as pytest 9 does (flags 3: its hash)."""
    import marshal

    source = root / rel
    data = source.read_bytes()
    if by_hash:
        stamp = b"\3\0\0\0" + importlib.util.source_hash(data + (b"#" if stale else b""))[:8]
    else:
        st = source.stat()
        stamp = b"\0\0\0\0" + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        stamp += ((st.st_size + (1 if stale else 0)) & 0xFFFFFFFF).to_bytes(4, "little")
    pyc = source.parent / "__pycache__" / f"{source.stem}.{TAG}-pytest-{pytest_version}.pyc"
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(importlib.util.MAGIC_NUMBER + stamp + marshal.dumps(compile(data, str(source), "exec")))
    return pyc


def test_current_cached_rewrites_of_frozen_tests_are_copied_and_vouched_for_stale_ones_never(tmp_path):
    root = project(tmp_path)
    (root / "tests" / "test_other.py").write_text("def test_other():\n    pass\n")
    (root / "tests" / "test_old.py").write_text("def test_old():\n    pass\n")
    (root / "tests" / "test_older.py").write_text("def test_older():\n    pass\n")
    current = cached_rewrite(root, "tests/test_mod.py")
    other = cached_rewrite(root, "tests/test_other.py", by_hash=True)
    cached_rewrite(root, "tests/test_old.py", stale=True)
    cached_rewrite(root, "tests/test_older.py", by_hash=True, stale=True)
    (root / "tests" / "__pycache__" / f"gone.{TAG}-pytest-8.3.4.pyc").write_bytes(current.read_bytes())
    (root / "tests" / "__pycache__" / f"test_mod.{TAG}.pyc").write_bytes(current.read_bytes())  # not pytest's
    workspaces = Workspaces(copy_on_write=lambda project: True)
    try:
        t = task(root)
        prepared = workspaces.prepare(
            t, "def f():\n    return 1\n", t.tests, asserts_test_file, bytecode_suffixes(TAG, "8.3.4")
        )
        snap = prepared.snapshot
        assert snap.cached_rewrites == {
            f"tests/__pycache__/{current.name}": hashlib.sha256(current.read_bytes()).hexdigest(),
            f"tests/__pycache__/{other.name}": hashlib.sha256(other.read_bytes()).hexdigest(),
        }
        assert sorted(p.name for p in (snap.dir / "tests" / "__pycache__").iterdir()) == sorted(
            [current.name, other.name]
        )
        assert (snap.dir / "tests" / "__pycache__" / current.name).read_bytes() == current.read_bytes()
        # the run is told of the cached rewrites of the test files it runs, at the paths it sees them
        assert prepared.cached_rewrites() == {
            str(prepared.path / "tests" / "__pycache__" / current.name): hashlib.sha256(
                current.read_bytes()
            ).hexdigest()
        }
        # a test file a patch replaces: its cached rewrite is of the old text
        assert prepared.cached_rewrites(replaced={"tests/test_mod.py": ""}) == {}
        workspaces.release(prepared)
    finally:
        workspaces.close()


def test_the_plugin_takes_a_cached_rewrite_as_the_tests_code_only_when_vouched_for_and_current(tmp_path):
    from runners.testing import pytest_plugin

    installed = pytest.__version__  # the name this pytest reads
    root = project(tmp_path)
    path = str(root / "tests" / "test_mod.py")
    source = (root / "tests" / "test_mod.py").read_bytes()
    for by_hash in (False, True):
        pyc = cached_rewrite(root, "tests/test_mod.py", by_hash=by_hash, pytest_version=installed)
        right = {os.path.realpath(pyc): hashlib.sha256(pyc.read_bytes()).hexdigest()}
        shapes = pytest_plugin._cached_rewrite(path, source, right)
        assert shapes is not None and ("test_f", 5) in shapes
        assert pytest_plugin._cached_rewrite(path, source, {os.path.realpath(pyc): "0" * 64}) is None  # other bytes
        assert pytest_plugin._cached_rewrite(path, source, {}) is None  # not vouched for
        stale = cached_rewrite(root, "tests/test_mod.py", by_hash=by_hash, stale=True, pytest_version=installed)
        vouched = {os.path.realpath(stale): hashlib.sha256(stale.read_bytes()).hexdigest()}
        assert pytest_plugin._cached_rewrite(path, source, vouched) is None  # not of this source
    pyc = cached_rewrite(root, "tests/test_mod.py", pytest_version=installed)
    right = {os.path.realpath(pyc): hashlib.sha256(pyc.read_bytes()).hexdigest()}
    fresh = pytest_plugin._FreshCodes(path, None, right)
    module = compile(source, path, "exec")
    test_f = next(c for c in module.co_consts if getattr(c, "co_name", "") == "test_f")
    assert fresh.matches(test_f)
    assert fresh.rewritten is None  # the cached rewrite answered: nothing compiled again
    swapped = compile("\n" * 4 + "def test_f():\n    pass\n", path, "exec")
    assert not fresh.matches(next(c for c in swapped.co_consts if getattr(c, "co_name", "") == "test_f"))


def run_pytest_in(root: Path) -> None:
    """The user's own pytest run in the project: it caches its rewrites of the test files."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
    )
    assert list((root / "tests" / "__pycache__").glob(f"test_mod.{TAG}-pytest-*.pyc"))


@sandboxed
@pytest.mark.slow
async def test_with_the_users_cached_rewrites_the_tests_run_as_their_file_and_a_swap_still_shows(tmp_path, evaluator):
    root = project(tmp_path)
    run_pytest_in(root)
    ev = await evaluator.evaluate(task(root), "def f():\n    return 1\n")
    assert (ev.verdict, ev.passed) == ("passed", 2), ev.message
    ev = await evaluator.evaluate(task(root), "def f():\n    return 0\n")
    assert (ev.verdict, ev.passed) == ("failed", 1), ev.message
    failed = next(t for t in ev.tests if t.outcome == "failed")
    assert "tests/test_mod.py:6" in failed.message and str(root) not in failed.message, failed.message
    # Run at import (a default argument: the splice takes the function alone), while the
    # test module is half imported: it is replaced by one whose tests pass.
    swap = (
        "import sys, types\n"
        "for name, real in list(sys.modules.items()):\n"
        "    if str(getattr(real, '__file__', '')).endswith('test_mod.py'):\n"
        "        fake = types.ModuleType(name)\n"
        "        fake.__file__ = real.__file__\n"
        "        exec(compile('def test_f():\\n    pass\\ndef test_h():\\n    pass\\n', real.__file__, 'exec'), fake.__dict__)\n"
        "        sys.modules[name] = fake\n"
    )
    swap = f"def f(_=exec({swap!r})):\n    return 0\n"
    ev = await evaluator.evaluate(task(root), swap)
    assert ev.verdict == "tampered" and ev.passed == 0, (ev.verdict, ev.message)
    assert "swapped" in ev.message or "not the code in" in ev.message


def test_the_cached_rewrite_of_a_test_file_the_run_replaces_is_covered_and_not_vouched_for(tmp_path):
    # The target lives in a test file (a helper the tests share): the candidate is bound over
    # it, so the cached rewrite of the file's old text must not stand in for it.
    root = project(tmp_path)
    (root / "tests" / "test_mod.py").write_text(
        "def make():\n    return 1\n\n\ndef test_make():\n    assert make() == 1\n"
    )
    pyc = cached_rewrite(root, "tests/test_mod.py")
    helper = Task(
        id="t",
        problem="",
        entry_point="make",
        kind="project",
        target="tests/test_mod.py::make",
        project=str(root),
        tests=["tests/test_mod.py::test_make"],
    )
    workspaces = Workspaces(copy_on_write=lambda project: True)
    try:
        prepared = workspaces.prepare(
            helper, "def make():\n    return 2\n", helper.tests, asserts_test_file, bytecode_suffixes(TAG, "8.3.4")
        )
        copied = prepared.path / "tests" / "__pycache__" / pyc.name
        assert f"tests/__pycache__/{pyc.name}" in prepared.snapshot.cached_rewrites
        assert (prepared.snapshot.empty_file, copied) in prepared.mounts
        assert prepared.cached_rewrites() == {}
        workspaces.release(prepared)
    finally:
        workspaces.close()
