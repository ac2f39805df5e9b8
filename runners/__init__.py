"""Everything that touches the user's files and processes: locating and splicing code,
sandboxed execution, metrics, datasets, patches. May import `search`'s data types;
never imports `orps_tui`.

The names below are loaded on first use: importing any one module of the package (a command
that only locates code, say) must not import the evaluator and with it pytest."""

from importlib import import_module

_HOMES = {"load_dataset": "runners.datasets", "SandboxEvaluator": "runners.evaluator",
          "static_metrics": "runners.metrics", "Limits": "runners.sandbox", "SandboxResult": "runners.sandbox",
          "isolation_report": "runners.sandbox", "run_sandboxed": "runners.sandbox"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'runners' has no attribute {name!r}")
