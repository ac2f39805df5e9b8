"""The one ignore list (runners.project.files) and the masking of key-shaped text."""

from __future__ import annotations

import os
import socket
import subprocess

from runners.project.files import ProjectFiles, is_secret_name
from search.redact import MASK, mask_secrets


def make_project(root):
    project = root / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "mod.py").write_text("x = 1\n")
    for ignored in (".git", ".venv", "node_modules", "build", "src/__pycache__"):
        (project / ignored).mkdir(parents=True, exist_ok=True)
        (project / ignored / "inside.txt").write_text("x")
    (project / "data").mkdir()
    (project / "data" / "big.csv").write_text("a,b\n")
    (project / "logs").mkdir()
    (project / "logs" / "run.log").write_text("x")
    (project / ".env").write_text("A=1\n")
    (project / "deploy.pem").write_text("x")
    return project


def test_fixed_list_exclude_setting_and_secrets(tmp_path):
    project = make_project(tmp_path)
    (project / "pyproject.toml").write_text(
        '[tool.orps]\nexclude = ["data", "*.log"]\nallow_secrets = ["deploy.pem"]\n'
    )
    listing = ProjectFiles(project).walk()
    assert set(listing.files) == {"deploy.pem", "pyproject.toml", "src/mod.py"}
    assert set(listing.hidden_dirs) == {".git", ".venv", "node_modules", "build", "src/__pycache__", "data"}
    assert listing.secrets == [".env"]


def test_gitignored_paths_are_never_walked(tmp_path):
    project = make_project(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / ".gitignore").write_text("logs/\n*.csv\n")
    listing = ProjectFiles(project).walk()
    assert "logs" in listing.hidden_dirs and "logs/run.log" not in listing.files
    assert "data/big.csv" not in listing.files and ".gitignore" in listing.files


def test_special_and_unreadable_files_are_skipped_with_a_note(tmp_path):
    project = make_project(tmp_path)
    os.mkfifo(project / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(project / "sock"))
    try:
        listing = ProjectFiles(project).walk()
    finally:
        sock.close()
    assert "fifo: a FIFO, left out" in listing.skipped and "sock: a socket, left out" in listing.skipped
    assert "fifo" not in listing.files


def test_secret_names():
    for name in (
        ".env",
        ".env.local",
        "prod.env",
        "id_rsa",
        "id_ed25519.pub",
        "server.pem",
        ".netrc",
        "credentials.json",
        "Credentials",
    ):
        assert is_secret_name(name), name
    for name in ("environment.py", "test_env.py", "identity.py", "keys.py", "README.md"):
        assert not is_secret_name(name), name


def test_key_shaped_text_is_masked():
    samples = {
        "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx": "sk-proj-",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789": "ghp_",
        "aws AKIAIOSFODNN7EXAMPLE here": "AKIA",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----": "b3Blbn",
        "postgres://app:hunter22@db:5432/x": "hunter22",
        "password = 'hunter22'": "hunter22",
    }
    for text, secret in samples.items():
        out = mask_secrets(text)
        assert secret not in out and MASK in out, (text, out)


def test_ordinary_feedback_stays_readable():
    for text in (
        "assert 'hello,-world!' == 'hello-world'",
        "token = next_token(s)",
        "E   KeyError: 'password'",
        "def test_api_key_parsing():",
    ):
        assert mask_secrets(text) == text
