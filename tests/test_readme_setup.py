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


# Variables that change what `pip install` builds (llama-cpp-python's CMake options, pip's own
# settings) or how Python runs what it installed: CI must not set them, or it tests another build.
BUILD_VARIABLES = re.compile(
    r"\b(CMAKE_ARGS|FORCE_CMAKE|CMAKE_[A-Z_]+|GGML_[A-Z_]+|LLAMA_[A-Z_]+|PIP_[A-Z_]+"
    r"|SKBUILD_[A-Z_]+|CFLAGS|CXXFLAGS|LDFLAGS|PYTHONPATH)\b"
)


def test_ci_sets_no_build_flags_of_its_own():
    """Outside the README's commands, .ci/run exports or assigns none of the variables that
    change the build (the README's command would have to set it itself)."""
    ci = (ROOT / ".ci" / "run").read_text()
    for command in readme_setup_commands():
        ci = ci.replace(command, "")
    code = "\n".join(line.split("#", 1)[0] for line in ci.splitlines())  # comments may name them
    found = BUILD_VARIABLES.findall(code)
    assert not found, f".ci/run sets build variables the README's commands do not: {found}"
    assert not re.search(r"^\s*export\s", code, re.MULTILINE), "an exported variable changes what the commands run"


def test_the_build_check_catches_an_exported_cmake_args():
    code = 'export CMAKE_ARGS="-DGGML_NATIVE=OFF"\npython3 -m venv .venv'
    assert BUILD_VARIABLES.findall(code) == ["CMAKE_ARGS"]
    assert BUILD_VARIABLES.findall("FORCE_CMAKE=1 pip install x") == ["FORCE_CMAKE"]
