"""Remove a tree a candidate may have shaped, without ever following a link out of it.

A candidate can leave read-only or mode-000 directories (overlayfs leaves one in its work
dir too) and symlinks to the user's files. `shutil.rmtree`'s usual retry, `chmod(name)`,
follows a symlink: run as a normal user, it would change the mode of the file the link
points at. Here every directory is opened by a file descriptor relative to its parent with
O_NOFOLLOW, only a real directory (checked on the opened descriptor) ever gets its mode
changed, and files and links are only unlinked.

`later` queues such work on a background thread, for callers that must not wait (a
cancelled evaluation returns at once; its sandbox is reaped and its files removed after).
"""

from __future__ import annotations

import atexit
import errno
import os
import queue
import stat
import threading
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name: str, parent_fd: int | None) -> int:
    """Open a real directory (never a link), making it readable first when it is not."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        pass
    # Mode 000: take a path-only handle (no permission needed), make sure it is a directory,
    # and change the mode of exactly that inode through /proc (no name is looked up again).
    handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        if not stat.S_ISDIR(os.fstat(handle).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
        os.chmod(f"/proc/self/fd/{handle}", 0o700)
    finally:
        os.close(handle)
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _scan(dir_fd: int) -> list[str]:
    """Unlink every non-directory inside the open directory `dir_fd` (any file type: files,
    links, FIFOs, sockets, devices); return the names of its subdirectories."""
    if stat.S_IMODE(os.fstat(dir_fd).st_mode) & 0o700 != 0o700:
        os.fchmod(dir_fd, 0o700)  # a read-only directory: its entries could not be unlinked
    subdirs = []
    for entry in list(os.scandir(dir_fd)):
        try:
            if stat.S_ISDIR(os.lstat(entry.name, dir_fd=dir_fd).st_mode):
                subdirs.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=dir_fd)
        except OSError:
            continue  # best effort: the rest still goes
    return subdirs


def _clear(dir_fd: int) -> None:
    """Remove everything inside the open directory `dir_fd`, at any depth, with a constant
    number of open descriptors and no recursion (a candidate can nest directories deeper
    than Python's recursion limit or the fd limit): down into each subdirectory by its
    descriptor, back up through "..", which nobody can move while we work (the run that
    made the tree is gone)."""
    fd = os.dup(dir_fd)
    stack: list[tuple[list[str], str]] = []  # per level above: (subdirectories left, the one we are in)
    pending = _scan(fd)
    try:
        while True:
            if pending:
                name = pending.pop()
                try:
                    child = _open_dir(name, fd)
                except OSError:
                    continue
                stack.append((pending, name))
                os.close(fd)
                fd = child
                pending = _scan(fd)
                continue
            if not stack:
                return
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            pending, name = stack.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                pass
    finally:
        os.close(fd)


def remove_tree(path: Path | str) -> None:
    """Remove `path` and everything under it; a link at `path` itself is just unlinked.
    Errors are swallowed: clean-up must never fail a run (what is left is reported by
    nothing worse than a stale temp directory)."""
    path = Path(path)
    try:
        parent_fd = os.open(str(path.parent), _DIR_FLAGS)
    except OSError:
        return
    try:
        st = os.lstat(path.name, dir_fd=parent_fd)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path.name, dir_fd=parent_fd)
            return
        fd = _open_dir(path.name, parent_fd)
        try:
            _clear(fd)
        finally:
            os.close(fd)
        os.rmdir(path.name, dir_fd=parent_fd)
    except OSError:
        pass
    finally:
        os.close(parent_fd)


class _Janitor:
    """Clean-up that the caller does not wait for (after a cancel): jobs run one at a time,
    in the order given, on one background thread, so a sandbox's kill-and-wait always comes
    before the removal of the workspace it used. Whatever is queued at interpreter exit is
    still done (bounded by `EXIT_WAIT_S`: exiting stays prompt)."""

    EXIT_WAIT_S = 1.0

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        atexit.register(self.wait, self.EXIT_WAIT_S)

    def later(self, job, *args) -> None:
        self._jobs.put((job, args))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="orps-cleanup", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            job, args = self._jobs.get()
            try:
                job(*args)
            except Exception:  # noqa: BLE001 - clean-up must never fail anything
                pass
            finally:
                self._jobs.task_done()

    def wait(self, timeout: float | None = None) -> bool:
        """Until every queued job is done (True), or `timeout` seconds (False)."""
        done = threading.Event()

        def join_then_set() -> None:
            self._jobs.join()
            done.set()

        threading.Thread(target=join_then_set, daemon=True).start()
        return done.wait(timeout)


JANITOR = _Janitor()


def later(job, *args) -> None:
    """Run `job(*args)` soon on the clean-up thread (in order with other such jobs)."""
    JANITOR.later(job, *args)
