"""Patch fidelity on real code: every function of the corpus libraries spliced back into its file.

For each function of each library's non-test modules (the sdists `bench_corpus.py` keeps
in its cache dir; run it first, or pass --cache-dir), two candidates:

- its own source (what `orps check --candidate` gets in the corpus round trip);
- `ast.unparse` of it: every comment dropped, every string re-quoted, every call
  reflowed, as a model rewriting the function without changing a statement would.

Both must give the file back byte for byte (an empty patch). Prints the counts, the
functions that do not, and the time per splice.

    python benchmarks/bench_roundtrip.py [--cache-dir ~/.cache/orps-corpus] [--libs toolz ...]
"""

from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

from runners.code.locate import LocateError, list_functions, locate
from runners.code.splice import SpliceError, splice_candidate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "orps-corpus")
    ap.add_argument("--libs", nargs="*", help="library directories under <cache>/src (default: all)")
    args = ap.parse_args()
    src = args.cache_dir.expanduser() / "src"
    if not src.is_dir():
        raise SystemExit(f"no libraries in {src}: run benchmarks/bench_corpus.py first")
    counts = {"own": [0, 0], "unparse": [0, 0]}
    failures: list[str] = []
    splices, spent = 0, 0.0
    for lib in sorted(p for p in src.iterdir() if p.is_dir()):
        if args.libs and not any(lib.name.startswith(name) for name in args.libs):
            continue
        for path in sorted(lib.rglob("*.py")):
            rel = path.relative_to(lib).as_posix()
            if "test" in rel or rel.startswith(("docs/", ".venv/")) or "/.venv/" in rel:
                continue
            text = path.read_text()
            try:
                ast.parse(text)
            except SyntaxError:
                continue
            for info in list_functions(path):
                try:
                    found = locate(lib, f"{rel}::{info.qualname}")
                    for kind, candidate in (("own", found.source), ("unparse", ast.unparse(ast.parse(found.source)))):
                        start = time.perf_counter()
                        same = splice_candidate(text, info.qualname, candidate) == text
                        spent += time.perf_counter() - start
                        splices += 1
                        counts[kind][0 if same else 1] += 1
                        if not same:
                            failures.append(f"{kind}: {lib.name} {rel}::{info.qualname}")
                except (LocateError, SpliceError, SyntaxError) as err:
                    failures.append(f"error: {lib.name} {rel}::{info.qualname}: {err}")
    for kind, (same, differ) in counts.items():
        print(f"{kind:8} candidate: {same}/{same + differ} files given back byte for byte")
    print(f"{splices} splices, {1000 * spent / max(splices, 1):.1f} ms each on average")
    for line in failures[:20]:
        print("  " + line)


if __name__ == "__main__":
    main()
