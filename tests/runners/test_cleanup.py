"""Clean-up removes any tree a run can leave: any depth, any file type, no link followed."""

from __future__ import annotations

import os
import socket
import stat

from runners.sandbox.cleanup import remove_tree


def deep_tree(root, depth: int) -> None:
    """`depth` nested directories (deeper than the recursion limit and than PATH_MAX allows
    as one path), made through descriptors, with a file, a FIFO and a read-only level."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        os.mkdir("d", dir_fd=fd)
        if level % 500 == 0:
            with open(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
                f.write("x")
            os.mkfifo("pipe", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if level == depth // 2:
            os.fchmod(fd, 0o500)
        os.close(fd)
        fd = child
    os.close(fd)


def test_a_tree_deeper_than_the_recursion_limit_is_removed(tmp_path):
    root = tmp_path / "scratch"
    root.mkdir()
    try:
        deep_tree(root, 3000)
        remove_tree(root)
        assert not root.exists()
    finally:  # never leave it for pytest's own (recursive) clean-up of old temp directories
        if root.exists():
            os.system(f"rm -rf {root}")


def test_every_file_type_goes_and_links_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    os.chmod(outside / "keep.txt", 0o644)
    root = tmp_path / "scratch"
    (root / "sub").mkdir(parents=True)
    os.mkfifo(root / "sub" / "fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sub" / "sock"))
    server.close()
    (root / "sub" / "link").symlink_to(outside)
    (root / "sub" / "filelink").symlink_to(outside / "keep.txt")
    (root / "locked").mkdir()
    (root / "locked" / "f").write_text("x")
    os.chmod(root / "locked", 0)
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "keep"
    assert stat.S_IMODE(os.stat(outside / "keep.txt").st_mode) == 0o644
