"""Probe runs for a project's function (agreement among tied candidates, search.agreement).

A dataset task's probes run through any Evaluator as an assert list. A project's target
lives in the user's package, so its probes are a test file added to the sandboxed copy
of the project (never to the project itself), at its root: the directories of the
selected tests are mounted read-only in the sandbox, and the project's configuration
(`pythonpath`, a root conftest) still applies there. The file imports the target from its
module and runs each probe call as one test, through the public
`SandboxEvaluator.evaluate` (`files=`).
"""

from __future__ import annotations

import secrets
import textwrap
from pathlib import PurePosixPath

from runners.target import Target
from search.agreement import Call, Output, ProbeRunner, helpers_source, read_outputs
from search.types import Task

UNTRUSTED = ("suspicious", "tampered", "error", "crashed")
"""A crashed run (the process ended before pytest finished) reports nothing to trust."""


def module_of(target_path: str) -> str:
    """`src/pkg/core.py` -> `pkg.core`; `pkg/__init__.py` -> `pkg`."""
    parts = list(PurePosixPath(target_path).with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def probe_file(task: Task, probes: list[Call], marker: str) -> tuple[str, str]:
    """(relative path, text) of the probe test file for a project task."""
    target = Target.parse(task.target)
    path, name = target.path, target.qualname
    rel = f"test_orps_probes_{marker[-12:]}.py"
    lines = [f"from {module_of(path)} import {name}", helpers_source(marker), ""]
    for i, call in enumerate(probes):
        lines.append(
            f"def test_probe_{i}():\n" + textwrap.indent(f"__orps_probe(lambda: {call.render(name)})", "    ") + "\n"
        )
    return rel, "\n".join(lines)


def project_probes(evaluator) -> ProbeRunner:
    """A probe runner for project tasks through a `SandboxEvaluator` (it needs `files=`)."""

    async def run(task: Task, code: str, probes: list[Call]) -> list[Output | None] | None:
        if task.kind != "project":
            raise ValueError("project_probes runs project tasks; dataset tasks use search.agreement.evaluator_probes")
        marker = "ORPS-PROBE-" + secrets.token_hex(6)
        rel, text = probe_file(task, probes, marker)
        probe_task = Task.from_dict({**task.to_dict(), "tests": [rel], "hidden_tests": []})
        ev = await evaluator.evaluate(probe_task, code, files={rel: text})
        if ev.verdict in UNTRUSTED:
            return None
        return read_outputs(ev, marker, len(probes))

    return run
