"""The ORPS search engine: tasks, tree, strategies, prompts, scoring, model gateway.

Pure logic. It talks to execution only through the `Evaluator` protocol defined in
`search.types`, and never imports `runners` or `orps_tui`.
"""

import os

# litellm downloads its price list at import time unless told otherwise; offline that
# stalls for a long time. This must run before anything imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from search.types import Evaluation, Evaluator, Task, TestResult  # noqa: E402

__all__ = ["Evaluation", "Evaluator", "Task", "TestResult"]
