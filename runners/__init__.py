"""Everything that touches the user's files and processes, one sub-package per job:
`code` (locate, splice, patch), `testing` (test selection, the evaluator, the verdict),
`sandbox`, `project` (its files and Python), `speed` (same behaviour, faster), `review`,
`bench`, `ray`. May import `search`'s data types; never imports `orps_tui`.

The names below are loaded on first use: importing any one module of the package (a command
that only locates code, say) must not import the evaluator and with it pytest."""

from importlib import import_module

_HOMES = {"load_dataset": "runners.bench.datasets", "SandboxEvaluator": "runners.testing.evaluator",
          "static_metrics": "runners.testing.metrics", "Limits": "runners.sandbox.caps", "SandboxResult": "runners.sandbox.caps",
          "isolation_report": "runners.sandbox.bwrap", "run_sandboxed": "runners.sandbox.run"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'runners' has no attribute {name!r}")
