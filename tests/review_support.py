"""A small git repository built by each review test: a base on `main` and a `feature`
branch that fixes one function, breaks one, adds one and removes one."""

from __future__ import annotations

from pathlib import Path

from tests.support import git

BASE = '''\
def add(a, b):
    """Add two numbers."""
    return a + b


def double(x):
    """Twice x."""
    return x * 2


def half(x):
    """Half of x."""
    return x / 3


def old(x):
    """On its way out."""
    return x
'''

TESTS = """\
from calc import add, double, half


def test_add():
    assert add(2, 3) == 5


def test_double():
    assert double(4) == 8


def test_half():
    assert half(8) == 4

"""

FEATURE = '''\
def add(a, b):
    """Add two numbers."""
    return a + b


def double(x):
    """Twice x."""
    return x * 3


def half(x):
    """Half of x."""
    return x / 2


def triple(x):
    """Three times x."""
    return x * 3
'''

OLD_TEST = """\
from calc import old


def test_old():
    assert old(1) == 1
"""

NEW_TEST = """\
from calc import triple


def test_triple():
    assert triple(2) == 6
"""


def make_repo(root: Path) -> Path:
    """`main` holds BASE and its tests (the removed function's in a file of their own); `feature` (one commit on top) holds FEATURE and a new
    test file; `main` is checked out."""
    repo = root / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(BASE)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    (repo / "tests" / "test_old.py").write_text(OLD_TEST)
    (repo / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    (repo / "calc.py").write_text(FEATURE)
    (repo / "tests" / "test_triple.py").write_text(NEW_TEST)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature")
    git(repo, "checkout", "-q", "main")
    return repo


def git_state(repo: Path) -> dict:
    """Everything of the repository a review must leave alone: the files, HEAD, the refs,
    the index's bytes, the worktree list and the status."""
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return {
        "files": files,
        "head": git(repo, "rev-parse", "HEAD"),
        "refs": git(repo, "show-ref"),
        "index": (repo / ".git" / "index").read_bytes(),
        "worktrees": git(repo, "worktree", "list"),
        "status": git(repo, "status", "--porcelain"),
        "stash": git(repo, "stash", "list"),
    }
