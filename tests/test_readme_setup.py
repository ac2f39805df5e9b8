"""The README's set-up commands work on PEP 668 systems and CI runs them verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.+?)\n```", section)


def test_each_setup_command_makes_and_uses_a_venv():
    commands = readme_setup_commands()
    assert len(commands) == 2
    for command in commands:
        # bare pip is refused by PEP 668 system Pythons: the venv must come first
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install ")


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in readme_setup_commands():
        assert command in ci


def test_readme_shows_no_machine_paths():
    text = (ROOT / "README.md").read_text()
    assert not re.search(r"(?<![\w.])/(work|tmp|home|root)/", text)
