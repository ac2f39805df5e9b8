"""Set resource limits, then exec the real command. Runs inside the sandbox, stdlib only.

Usage: python -I -S _launch.py '{"as_mb": 2048, "fsize_mb": 64, "nproc": 64}' -- argv...
Limits are set here rather than in a preexec_fn, which is unsafe in a threaded parent.
"""

import json
import os
import resource
import sys


def main() -> None:
    limits = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limits["as_mb"] * mb, limits["as_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize_mb"] * mb, limits["fsize_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.get("nproc"):
        # The parent already added the processes this uid runs elsewhere on the host.
        n = limits["nproc"]
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
