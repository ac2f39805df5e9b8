"""orps: the application. CLI (`orps`), Textual TUI, configuration, review and apply."""

import os

# Before anything imports litellm (see search/__init__.py for why).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
