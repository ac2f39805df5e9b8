"""The ORPS search engine: tasks, tree, strategies, prompts, scoring, model gateway.

Pure logic. It talks to execution only through the `Evaluator` protocol and to models
only through the `ModelClient` protocol, both in `search.types` (the gateway in
`search.gateway` is the model client orps uses), and never imports `runners` or `orps_tui`.
"""

import os

# litellm downloads its price list at import time unless told otherwise; offline that
# stalls for a long time. This must run before anything imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from search.types import Evaluation, Evaluator, ModelClient, Task, TestResult  # noqa: E402

__all__ = ["Evaluation", "Evaluator", "ModelClient", "Task", "TestResult"]
