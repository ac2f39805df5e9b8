"""Test-selection time against test-file size: a project with one generated test file of
1k, 5k and 20k lines (tests that call the target through a package re-export and a
module alias, plus unrelated tests), `select_tests` timed on each (best of `--repeat`).

    python benchmarks/bench_select.py [--sizes 1000 5000 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from runners.code.locate import locate
from runners.testing.testselect import select_tests

PACKAGE = {
    "pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['src']\ntestpaths = ['tests']\n",
    "src/pkg/__init__.py": "from .core import *\n",
    "src/pkg/core.py": "__all__ = ['double']\n\n\ndef double(x):\n    return 2 * x\n",
}


def test_file(lines: int) -> str:
    """About `lines` lines: four-line tests, a third of them unrelated to the target."""
    out = ["import pkg as p\nfrom pkg import double\n\n"]
    for i in range(lines // 4):
        call = ("double", "p.double", "abs")[i % 3]
        out.append(f"def test_{i}():\n    assert {call}({i}) == {call}({i})\n\n\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'lines':>7} {'tests':>6} {'selected':>8} {'seconds':>8} {'us/line':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in PACKAGE.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        located = locate(root, "src/pkg/core.py::double")
        for size in args.sizes:
            text = test_file(size)
            (root / "tests").mkdir(exist_ok=True)
            (root / "tests" / "test_big.py").write_text(text)
            best, selected = float("inf"), 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                selected = len(select_tests(root, located).node_ids)
                best = min(best, time.perf_counter() - started)
            lines = text.count("\n")
            print(f"{lines:>7} {size // 4:>6} {selected:>8} {best:>8.3f} {best / lines * 1e6:>8.1f}")


if __name__ == "__main__":
    main()
