"""Remove a tree a candidate may have shaped, without ever following a link out of it.

A candidate can leave read-only or mode-000 directories (overlayfs leaves one in its work
dir too) and symlinks to the user's files. `shutil.rmtree`'s usual retry, `chmod(name)`,
follows a symlink: run as a normal user, it would change the mode of the file the link
points at. Here every directory is opened by a file descriptor relative to its parent with
O_NOFOLLOW, only a real directory (checked on the opened descriptor) ever gets its mode
changed, and files and links are only unlinked.
"""

from __future__ import annotations

import errno
import os
import stat
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


def _clear(dir_fd: int) -> None:
    """Remove everything inside the open directory `dir_fd`."""
    if stat.S_IMODE(os.fstat(dir_fd).st_mode) & 0o700 != 0o700:
        os.fchmod(dir_fd, 0o700)  # a read-only directory: its entries could not be unlinked
    for entry in list(os.scandir(dir_fd)):
        try:
            st = os.lstat(entry.name, dir_fd=dir_fd)
            if stat.S_ISDIR(st.st_mode):
                child = _open_dir(entry.name, dir_fd)
                try:
                    _clear(child)
                finally:
                    os.close(child)
                os.rmdir(entry.name, dir_fd=dir_fd)
            else:
                os.unlink(entry.name, dir_fd=dir_fd)
        except OSError:
            continue  # best effort: the rest still goes


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
