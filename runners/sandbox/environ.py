"""The environment a sandboxed run (and a warm worker) is given: only harmless variables
from ours, never anything that looks secret. Its own module, light to import: a one-shot
`orps check` starts its warm worker with it before the sandbox's modules are loaded."""

from __future__ import annotations

import os
import re

SAFE_ENV = re.compile(r"^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|PYTHONIOENCODING|PYTHONUTF8|PYTHONHASHSEED)$")
SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.I)


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only harmless variables from our environment, and never anything that looks secret."""
    env = {k: v for k, v in os.environ.items() if SAFE_ENV.match(k) and not SECRET_ENV.search(k)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update({"HOME": "/tmp/home", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env
