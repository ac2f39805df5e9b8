"""Screen benchmark problems for the ones the embedded model can reach: k independent
samples per problem (one llama.cpp batch), each judged on the hidden tests; a problem is
kept when some samples pass and some do not.

Why: on the full MBPP and HumanEval sets SmolLM2-135M solves a few problems under every
strategy and fails the rest under every strategy, so pass@1 over them cannot rank search
strategies (BENCHMARKS.md, "Search strategies"). Only a problem the model solves
sometimes can show a strategy choosing better among its attempts.

The samples are what a search's round 0 draws: the programmer's fresh-sample prompt with
the public tests (sample i with style hint i, as node 0-i), temperature 0.8, the embedded
model's Q8_0 copy (search.providers.q8_copy), seeds 0..k-1 of the batch.

Two files in --out, both rewritten as results arrive, so the screening can be stopped at
any time and continued with the same command:

- `screening.jsonl`: one line per screened problem, with every sample's hidden-test
  outcome (a problem already there is skipped);
- `subset/dev.csv` and `subset/test.csv`: the kept problems, the layout `orps bench
  --dataset` reads (rows copied unchanged from the source datasets).

    python benchmarks/screen_reachable.py [--samples 8] [--limit N] [--threads 1] [--pause 0]
        [--datasets ../shared/datasets/mbpp_v2,../shared/datasets/humaneval_v2] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in orps's model process: threads wait sleeping

from runners.bench.datasets import CANARY_IDS, load_dataset  # noqa: E402
from runners.testing.evaluator import SandboxEvaluator  # noqa: E402
from search.parsing import parse_program  # noqa: E402
from search.prompts import programmer_messages, style_for  # noqa: E402
from search.providers.llama_backend import load_model  # noqa: E402
from search.providers.llama_batch import BatchRequest, generate_batch  # noqa: E402
from search.providers.local import smollm2_path  # noqa: E402
from search.providers.q8_copy import cache_dir, prepare  # noqa: E402
from search.types import Task  # noqa: E402


def shared_datasets() -> Path:
    """../shared/datasets beside the repository, as the tests expect; from a git worktree,
    beside the main checkout that the worktree belongs to."""
    beside = ROOT.parent / "shared" / "datasets"
    if beside.is_dir():
        return beside
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return beside
    return Path(common).parent.parent / "shared" / "datasets"


DEFAULT_OUT = ROOT / "benchmarks" / "results" / "reachable"

csv.field_size_limit(1 << 30)


def interleaved(per_dataset: list[list[Task]]) -> list[Task]:
    """One problem of each dataset in turn, so a screening stopped early covers both."""
    order: list[Task] = []
    for i in range(max((len(tasks) for tasks in per_dataset), default=0)):
        order.extend(tasks[i] for tasks in per_dataset if i < len(tasks))
    return order


def reachable(record: dict) -> bool:
    """Some samples pass every hidden test and some do not."""
    return 0 < record["passed"] < record["samples"]


def read_screening(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill
            done[record["id"]] = record
    return done


def write_subset(records: dict[str, dict], sources: list[Path], out: Path) -> int:
    """The kept problems as a dataset directory (dev.csv, test.csv), rows in source order;
    written under temporary names then renamed, so `orps bench` never reads half a file."""
    keep = {task_id for task_id, r in records.items() if reachable(r)}
    out.mkdir(parents=True, exist_ok=True)
    for name in ("dev.csv", "test.csv"):
        rows: list[dict[str, str]] = []
        fields: list[str] = []
        for source in sources:
            with (source / name).open(newline="") as f:
                reader = csv.DictReader(f)
                for field in reader.fieldnames or []:
                    if field not in fields:
                        fields.append(field)
                rows.extend(row for row in reader if row["task_id"] in keep)
        temp = out / f".{name}.{os.getpid()}.tmp"
        with temp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temp, out / name)
    return len(keep)


async def screen_one(llm, evaluator: SandboxEvaluator, task: Task, args) -> dict:
    public = Task.from_dict({**task.to_dict(), "hidden_tests": []})  # the prompt shows the public tests only
    requests = [
        BatchRequest(programmer_messages(public, style_for(i), None), args.temperature, args.max_tokens, [], i)
        for i in range(args.samples)
    ]
    started = time.perf_counter()
    completions = await asyncio.to_thread(generate_batch, llm, requests, n_threads=args.threads)
    generated = time.perf_counter() - started
    samples = []
    for i, completion in enumerate(completions):
        text = completion["choices"][0]["message"]["content"] or ""
        code = parse_program(text, task.entry_point, completion["choices"][0]["finish_reason"] or "").code
        if code.strip():
            ev = await evaluator.evaluate(task, code, hidden=True)
            verdict, passed, total = ev.verdict, ev.passed, ev.total
        else:
            verdict, passed, total = "no-code", 0, len(task.hidden_tests)
        samples.append(
            {
                "seed": i,
                "style": style_for(i),
                "verdict": verdict,
                "passed": passed,
                "total": total,
                "all_passed": bool(code.strip()) and total > 0 and passed == total,
                "tokens": completion["usage"]["completion_tokens"],
            }
        )
    reference = await evaluator.evaluate(task, task.reference_code, hidden=True) if task.reference_code else None
    return {
        "id": task.id,
        "samples": len(samples),
        "passed": sum(s["all_passed"] for s in samples),
        "reference_passes": bool(reference and reference.all_passed),
        "generate_s": round(generated, 1),
        "judge_s": round(time.perf_counter() - started - generated, 1),
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "load_average": round(os.getloadavg()[0], 1),
        "per_sample": samples,
    }


async def main_async(args) -> None:
    sources = (
        [Path(p) for p in args.datasets.split(",")]
        if args.datasets
        else [shared_datasets() / "mbpp_v2", shared_datasets() / "humaneval_v2"]
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    screening = out / "screening.jsonl"
    done = read_screening(screening)
    tasks = interleaved([load_dataset(s, limit=args.limit or None) for s in sources])
    todo = [t for t in tasks if t.id not in done and t.id not in CANARY_IDS]
    print(f"{len(done)} problems screened before, {len(todo)} to go ({len(tasks)} selected)", flush=True)
    if not todo:
        write_subset(done, sources, out / "subset")
        return
    shipped = smollm2_path()
    llm = load_model(str(prepare(shipped, cache_dir(), print)), n_ctx=4096, n_threads=args.threads)
    async with SandboxEvaluator(timeout_s=args.timeout) as evaluator:
        for n, task in enumerate(todo, 1):
            record = await screen_one(llm, evaluator, task, args)
            with screening.open("a") as f:
                f.write(json.dumps(record) + "\n")
            done[task.id] = record
            kept = write_subset(done, sources, out / "subset")
            print(
                f"[{n}/{len(todo)}] {task.id:<16} {record['passed']}/{record['samples']} pass hidden"
                f"{'  (reference fails here)' if not record['reference_passes'] else ''}"
                f"  gen {record['generate_s']}s judge {record['judge_s']}s  kept {kept} of {len(done)}"
                f"  load {record['load_average']}",
                flush=True,
            )
            if args.pause:
                time.sleep(args.pause)  # leaves the cores to others between problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="", help="comma-separated dataset directories (default MBPP, HumanEval)")
    parser.add_argument("--samples", type=int, default=8, help="samples per problem, one batch (default 8)")
    parser.add_argument("--limit", type=int, default=0, help="the first N problems of each dataset")
    parser.add_argument("--max-tokens", type=int, default=256, help="per sample (default 256, as the grid)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (default 1: a shared machine)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per test run")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between problems")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
