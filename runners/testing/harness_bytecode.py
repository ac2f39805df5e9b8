"""Compiled bytecode of orps's modules that run inside the sandbox (the pytest plugin, the
module of private pytest names, the confirmation proxy), made once per bytecode format and
kept in orps's cache directory: a sandboxed run otherwise compiles the plugin every time
(about 30 ms).

The files are checked-hash bytecode: on every import the interpreter compares the hash they
record with the source beside them and compiles the source when they differ, so bytecode of
another version of orps is never run. They are made by orps's own interpreter when the test
interpreter reads the same format, else by the test interpreter itself, once, outside the
sandbox (as `runners.project.env` asks it what it is). Where runs are not isolated (no
namespaces: a run could write into the cache directory) none is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import py_compile
import shutil
import subprocess
from pathlib import Path

from runners.project.env import InterpreterInfo, cache_dir

BOOT_SCRIPT = "_orps_boot.py"
"""Run as a script, never imported: Python compiles a script itself."""
_COMPILE = (
    "import py_compile, sys\n"
    "py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True,\n"
    "                   invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)\n"
)


def provide(harness_dir: Path, python: str, info: InterpreterInfo) -> None:
    """Put the bytecode of every module in `harness_dir` for `python` (described by `info`)
    into its `__pycache__`, from the cache (made there first when missing). Does nothing
    when the interpreter's bytecode format is unknown, when the sandbox does not isolate
    runs, or when a file cannot be made (the run then compiles the source, as before)."""
    from runners.sandbox.bwrap import bwrap_works

    if not info.cache_tag or not info.magic or not bwrap_works()[0]:
        return
    for source in sorted(harness_dir.glob("*.py")):
        dest = harness_dir / "__pycache__" / f"{source.stem}.{info.cache_tag}.pyc"
        if source.name == BOOT_SCRIPT or dest.is_file():
            continue
        try:
            data = source.read_bytes()
            cached = (
                cache_dir() / "bytecode" / info.magic / f"{source.stem}-{hashlib.sha256(data).hexdigest()[:20]}.pyc"
            )
            if not cached.is_file():
                cached.parent.mkdir(parents=True, exist_ok=True)
                _compile(source, cached, python, info)
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(cached, dest)
        except (OSError, py_compile.PyCompileError, subprocess.SubprocessError):
            continue


def _compile(source: Path, cached: Path, python: str, info: InterpreterInfo) -> None:
    """Checked-hash bytecode of `source` at `cached`, written whole or not at all."""
    if info.magic == importlib.util.MAGIC_NUMBER.hex():
        py_compile.compile(
            str(source), cfile=str(cached), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run(
        [python, "-I", "-c", _COMPILE, str(source), str(cached)], capture_output=True, timeout=60, check=True, env=env
    )
