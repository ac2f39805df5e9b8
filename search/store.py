"""The run store: `.orps/runs/<run-id>/` in the project, one directory per search.

A project where `.orps` cannot be written (a read-only checkout) keeps its state in a
per-user cache directory instead: `$XDG_CACHE_HOME/orps/projects/<name>-<hash>/` (default
`~/.cache/...`), one per project path. Listing looks in both places.

Files: `task.json`, `settings.json`, `events.jsonl` (appended as the search goes),
`tree.json` (rewritten atomically after every node), `meta.json` (status, figures for
`orps runs`), `result.json` (when the search ends), `original_file.txt` (the target's
file as the search saw it, for patches). Writes are atomic so a crash never leaves a
half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from search.events import Event

RUNS_DIR = Path(".orps") / "runs"


def user_state_dir(project: Path) -> Path:
    """The per-user place for a project's state when the project cannot hold it."""
    project = Path(project).resolve()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:12]
    return base / "orps" / "projects" / f"{project.name}-{digest}"


def _writable(directory: Path) -> bool:
    """Can we create `directory` (if missing) and write a file in it? Tried for real:
    permission bits say nothing on a read-only mount, or to root."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def state_dir(project: Path) -> Path:
    """Where orps keeps a project's runs and caches: `<project>/.orps`, or the per-user
    directory when that cannot be written."""
    local = Path(project) / ".orps"
    if _writable(local):
        return local
    fallback = user_state_dir(project)
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.id = self.path.name

    @classmethod
    def create(cls, root: Path, run_id: str | None = None) -> RunDir:
        state = state_dir(root)
        path = state / "runs" / (run_id or new_run_id())
        path.mkdir(parents=True, exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# orps runs, caches and backups: local state, not source\n*\n")
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def write(self, name: str, data: Any) -> None:
        write_json(self.file(name), data)

    def read(self, name: str, default: Any = None) -> Any:
        return read_json(self.file(name), default)

    def append_event(self, event: Event) -> None:
        with self.file("events.jsonl").open("a") as f:
            f.write(json.dumps(event.to_dict(), default=str) + "\n")

    def events(self) -> list[dict[str, Any]]:
        path = self.file("events.jsonl")
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a crash
        return out

    def meta(self) -> dict[str, Any]:
        return self.read("meta.json", {}) or {}

    def update_meta(self, **fields: Any) -> None:
        self.write("meta.json", {**self.meta(), **fields, "id": self.id})


def list_runs(root: Path) -> list[RunDir]:
    """The project's runs, newest first, from `.orps/runs` and the per-user directory."""
    found: dict[str, Path] = {}
    for base in (user_state_dir(root) / "runs", Path(root) / RUNS_DIR):
        if base.is_dir():
            found.update({p.name: p for p in base.iterdir() if p.is_dir()})
    return [RunDir(found[name]) for name in sorted(found, reverse=True)]


def find_run(root: Path, run_id: str) -> RunDir | None:
    """A run by id or unique prefix (`latest` for the newest)."""
    runs = list_runs(root)
    if run_id == "latest":
        return runs[0] if runs else None
    exact = [r for r in runs if r.id == run_id]
    if exact:
        return exact[0]
    prefixed = [r for r in runs if r.id.startswith(run_id)]
    return prefixed[0] if len(prefixed) == 1 else None


STALE_AFTER_S = 600


def _idle_for(path: Path) -> float:
    try:
        newest = max(p.stat().st_mtime for p in path.parent.iterdir())
    except (OSError, ValueError):
        return 0.0
    return time.time() - newest


def run_rows(project: Path, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` runs as table rows (what `orps runs` and the history screen show)."""
    rows = []
    for run in list_runs(project)[:limit]:
        meta = run.meta()
        status = meta.get("status", "unknown")
        if status == "running" and _idle_for(run.file("meta.json")) > STALE_AFTER_S:
            status = "stale"  # its process died without finishing: resume it
        rows.append(
            {
                "id": run.id,
                "status": status,
                "result": meta.get("result", ""),
                "target": meta.get("target") or meta.get("task", ""),
                "strategy": meta.get("strategy", ""),
                "model": meta.get("model", ""),
                "pass_rate": meta.get("pass_rate"),
                "calls": meta.get("calls"),
                "tokens": meta.get("tokens"),
                "cost_usd": meta.get("cost_usd"),
            }
        )
    return rows
