"""The user's project as orps sees it: `files` (which files are the project's, honouring
ignore rules, and reading them) and `env` (which Python runs its tests: the project's
virtual environment or tool, probed once and cached)."""
