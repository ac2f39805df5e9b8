"""Project snapshots: the project travels to the workers as a Ray object, never through a
shared file system.

The project's files (the same ones `runners.sandbox.workspace` would copy) are packed into a tar
once per snapshot (`pack_project`), `ray.put` once, and unpacked on a worker into a temp
directory cached per snapshot hash (`unpack_project`).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path


def pack_project(project: Path) -> tuple[str, bytes]:
    """The project's files (what a workspace copies) as an uncompressed tar, and its hash."""
    from runners.project.files import ProjectFiles

    project = Path(project).resolve()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in sorted(ProjectFiles(project).walk().files):  # the one ignore list
            full = project / rel
            info = tar.gettarinfo(str(full), arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with full.open("rb") as f:
                    tar.addfile(info, f)
            elif info.issym():
                tar.addfile(info)
    data = buf.getvalue()
    return hashlib.sha256(data).hexdigest()[:20], data


_unpacked: dict[str, Path] = {}
_unpack_lock = threading.Lock()


def snapshot_root() -> Path:
    return Path(tempfile.gettempdir()) / f"orps-ray-snapshots-{os.getuid()}"


def unpack_project(digest: str, data: bytes | None, fetch=None) -> Path:
    """The directory holding snapshot `digest` on this machine, unpacked once (from `data`,
    or `fetch()` when only a reference was sent) and shared by the worker processes."""
    with _unpack_lock:
        cached = _unpacked.get(digest)
        if cached and cached.is_dir():
            return cached
        target = snapshot_root() / digest
        if not target.is_dir():
            if data is None:
                data = fetch()
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=target.parent))
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                tar.extractall(staging, filter="data")
            try:
                staging.rename(target)  # atomic: another worker process may have won the race
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        _unpacked[digest] = target
        return target
