"""Everything that touches the user's files and processes: locating and splicing code,
sandboxed execution, metrics, datasets, patches. May import `search`'s data types;
never imports `orps_tui`."""

from runners.datasets import load_dataset
from runners.evaluator import SandboxEvaluator
from runners.metrics import static_metrics
from runners.sandbox import Limits, SandboxResult, isolation_report, run_sandboxed

__all__ = ["Limits", "SandboxEvaluator", "SandboxResult", "isolation_report", "load_dataset", "run_sandboxed",
           "static_metrics"]
