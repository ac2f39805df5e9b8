"""The benchmark harness with the scripted model: hidden tests judge, budgets are equal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orps_tui.schema import validate
from runners.bench.report import report, table
from runners.bench.run import BenchConfig, BenchRun
from search.providers.scripted import register_script
from search.settings import SearchSettings
from search.types import Task
from tests.fakes import FakeEvaluator

# Passes the public tests (small inputs) but not the hidden one (negative numbers).
OVERFIT = "```python\ndef absval(x):\n    return x\n```"
RIGHT = "```python\ndef absval(x):\n    return -x if x < 0 else x\n```"


def tasks() -> list[Task]:
    return [
        Task(
            id="overfit",
            problem="Return |x|.",
            entry_point="absval",
            tests=["assert absval(3) == 3", "assert absval(0) == 0"],
            hidden_tests=["assert absval(3) == 3", "assert absval(-2) == 2"],
            reference_code=RIGHT.strip("`python\n"),
        ),
        Task(
            id="solvable",
            problem="Return |x| (remember negatives).",
            entry_point="absval",
            tests=["assert absval(-1) == 1"],
            hidden_tests=["assert absval(-5) == 5", "assert absval(4) == 4"],
        ),
    ]


def script(messages, params):
    if "reviewer" in messages[0]["content"]:
        return "Score: 5/5"
    return RIGHT if "negatives" in messages[-1]["content"] else OVERFIT


def configs(model: str, budget: int) -> list[BenchConfig]:
    out = []
    for strategy in ("orps", "best_of_n", "reflexion", "single"):
        s = SearchSettings(
            strategy=strategy,
            model=model,
            samples=2,
            beam=1,
            rounds=1000 if strategy == "orps" else 3,
            budget_calls=budget,
        )
        out.append(BenchConfig(strategy, budget, s))
    return out


async def test_public_pass_but_hidden_fail_counts_as_failed(tmp_path):
    register_script("bench", script)
    cfgs = configs("scripted/bench", 4)
    by_config = await BenchRun(tasks(), cfgs, FakeEvaluator(), tmp_path).run()
    doc = report(by_config, cfgs, {"dataset": "tiny", "model": "scripted/bench", "backend": "local", "workers": 1})
    for run in doc["runs"]:
        by_id = {p["id"]: p for p in run["problems"]}
        assert by_id["overfit"]["solved_public"] and not by_id["overfit"]["passed_hidden"]
        assert by_id["solvable"]["passed_hidden"]
        assert run["pass_at_1"] == 0.5 and run["public_pass_rate"] == 1.0
        assert all(p["calls"] <= 4 for p in run["problems"])  # the budget holds for every strategy
    assert doc["pass_at_1"] == 0.5 and len(doc["problems"]) == 2  # first config at the top level
    assert "pass@1" in table(doc)


async def test_a_problem_that_raises_is_recorded_as_failed_in_its_own_seed_and_skipped_on_resume(tmp_path):
    async def broken(task, config, evaluator, cache_dir):
        raise KeyError("no entry point")

    cfg = configs("scripted/bench", 2)[0]
    cfg.settings.seed = 2
    by_config = await BenchRun(tasks()[:1], [cfg], FakeEvaluator(), tmp_path, solver=broken).run()
    (result,) = by_config[cfg.key]
    assert (result.seed, result.stop_reason, result.passed_hidden) == (2, "error", False)
    assert result.error == "KeyError: 'no entry point'" and result.hidden_total == 2

    async def never(task, config, evaluator, cache_dir):
        raise AssertionError("a finished cell was run again")

    again = await BenchRun(tasks()[:1], [cfg], FakeEvaluator(), tmp_path, solver=never, resume=True).run()
    assert again[cfg.key] == [result]


async def test_resume_skips_finished_problems(tmp_path):
    asked = []

    def counting(messages, params):
        asked.append(1)
        return script(messages, params)

    register_script("bench2", counting)
    cfgs = configs("scripted/bench2", 2)[:1]
    await BenchRun(tasks()[:1], cfgs, FakeEvaluator(), tmp_path).run()
    first = len(asked)
    by_config = await BenchRun(tasks(), cfgs, FakeEvaluator(), tmp_path, resume=True).run()
    assert len(by_config[cfgs[0].key]) == 2
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["overfit", "solvable"]
    assert len(asked) - first <= 2  # only the new problem was searched


async def test_a_failing_problem_is_recorded_not_fatal(tmp_path):
    import litellm

    def too_long(messages, params):  # concerns this problem only: the benchmark goes on
        raise litellm.ContextWindowExceededError("context length exceeded", llm_provider="scripted", model="long")

    register_script("long", too_long)
    cfgs = configs("scripted/long", 2)[:1]
    by_config = await BenchRun(tasks()[:1], cfgs, FakeEvaluator(), tmp_path).run()
    (result,) = by_config[cfgs[0].key]
    # how many calls were in flight when the search stopped on the first failure is the engine's affair
    assert "too long" in result.error and not result.passed_hidden and result.failed_calls >= 1
    doc = report(by_config, cfgs, {})
    assert doc["failed_calls"] == doc["runs"][0]["failed_calls"] == result.failed_calls
    header, row = table(doc).splitlines()
    assert header.split()[-1] == "failed" and row.split()[-1] == str(result.failed_calls)


@pytest.mark.parametrize(
    "error, everywhere",
    [
        (lambda: __import__("litellm").AuthenticationError("bad key", llm_provider="scripted", model="m"), False),
        (lambda: __import__("litellm").NotFoundError("model not found", llm_provider="scripted", model="m"), False),
        # retried first (as any transient error), so it fails every problem's calls, as a dead server does
        (
            lambda: __import__("litellm").InternalServerError(
                "OpenAIException - Connection error.", llm_provider="openai", model="m"
            ),
            True,
        ),
    ],
)
async def test_a_model_that_cannot_answer_stops_the_run_and_records_nothing(tmp_path, error, everywhere):
    import asyncio
    import time

    from search.gateway import ModelError

    register_script("fine", script)
    cfgs = configs("scripted/fine", 2)[:1]
    await BenchRun(tasks()[:1], cfgs, FakeEvaluator(), tmp_path).run()  # one problem finished earlier

    def failing(messages, params):
        if "negatives" not in messages[-1]["content"] and not everywhere:
            time.sleep(0.3)  # this problem is still searching when the other one's call fails
            return OVERFIT
        raise error()

    register_script("failing", failing)
    more = tasks() + [
        Task(
            id=f"extra{i}",
            problem="Return |x|.",
            entry_point="absval",
            tests=["assert absval(1) == 1"],
            hidden_tests=["assert absval(1) == 1"],
        )
        for i in range(4)
    ]
    cfgs = configs("scripted/failing", 2)[:1]
    with pytest.raises(ModelError) as info:
        await asyncio.wait_for(BenchRun(more, cfgs, FakeEvaluator(), tmp_path, concurrency=2, resume=True).run(), 30)
    assert info.value.fatal
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["overfit"]  # kept for --resume; nothing recorded as failed


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def tiny_dataset(root: Path) -> Path:
    import csv

    root.mkdir(parents=True, exist_ok=True)
    for name in ("dev.csv", "test.csv"):
        with (root / name).open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["task_id", "instruction", "completion", "test_setup", "test_list"])
            w.writeheader()
            for i in range(2):
                w.writerow(
                    {
                        "task_id": f"t/{i}",
                        "instruction": f"Return x plus {i}.",
                        "test_setup": "",
                        "completion": f"def add{i}(x):\n    return x + {i}\n",
                        "test_list": repr([f"assert add{i}(1) == {1 + i}"]),
                    }
                )
    return root


@pytest.mark.parametrize(
    "key", [pytest.param("", id="missing-key"), pytest.param("sk-not-used", id="no-server", marks=pytest.mark.slow)]
)  # retried: ~15 s
def test_bench_with_no_model_to_answer_exits_3_with_one_line_and_records_nothing(tmp_path, monkeypatch, capsys, key):
    """A real litellm provider; the api base is a closed local port, so nothing reaches the internet."""
    from orps_tui.cli import main

    if key:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "out"
    code = main(
        [
            "bench",
            "--dataset",
            str(tiny_dataset(tmp_path / "ds")),
            "--model",
            "openai/gpt-4o-mini",
            "--api-base",
            f"http://127.0.0.1:{closed_port()}",
            "--samples",
            "2",
            "--beam",
            "1",
            "--rounds",
            "1",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    (line,) = [x for x in err.splitlines() if x.startswith("orps:")]
    assert line.startswith("orps: benchmark stopped: ")
    assert ("could not reach" if key else "rejected the credentials") in line
    assert "--resume --out" in err and "Traceback" not in err and "never awaited" not in err
    assert not (out / "results.jsonl").exists() or not (out / "results.jsonl").read_text().strip()
    assert not (out / "report.json").exists()  # no score for a run that measured nothing


async def test_no_critic_ablation_is_labelled_and_spends_every_call_on_the_programmer(tmp_path):
    from orps_tui.cli import build_parser
    from orps_tui.commands.bench import grid_configs

    args = build_parser().parse_args(
        [
            "bench",
            "--dataset",
            "x",
            "--strategy",
            "orps,best_of_n",
            "--no-critic",
            "--budget-calls",
            "6",
            "--samples",
            "2",
            "--beam",
            "1",
            "--model",
            "scripted/nocritic",
        ]
    )
    cfgs = grid_configs(args)
    assert [c.key for c in cfgs] == ["orps-nocritic@6", "best_of_n@6"]
    assert not cfgs[0].settings.critic and cfgs[0].settings.strategy == "orps"
    asked = []

    def programmer_only(messages, params):
        asked.append("critic" if "reviewer" in messages[0]["content"] else "programmer")
        return OVERFIT

    register_script("nocritic", programmer_only)
    by_config = await BenchRun(tasks()[1:], cfgs[:1], FakeEvaluator(), tmp_path).run()
    result = by_config["orps-nocritic@6"][0]
    assert result.strategy == "orps-nocritic" and result.calls == 6
    assert asked == ["programmer"] * 6  # no call went to a critic


def test_progress_line_has_a_bar_passes_and_an_eta_from_this_runs_pace():
    from runners.bench.report import Progress
    from runners.bench.run import ProblemResult

    now = [100.0]
    restored = [ProblemResult("a", "orps", 4, True, True, 1, 1, 4, 0, 0, 0.0, 1.0, None, 2, "solved")]
    progress = Progress(restored, clock=lambda: now[0])
    now[0] += 30.0  # one new problem took 30 s; 2 of 4 done, 2 left
    result = ProblemResult("b", "orps", 4, True, True, 1, 1, 4, 0, 0, 0.0, 30.0, None, 2, "solved")
    line = progress.line(result, done=2, total=4, width=10)
    assert line.startswith("[#####.....]    2/4 orps")
    assert "PASS" in line and "orps passed 2" in line  # the restored pass counts too
    assert line.endswith("eta 1m00s")


async def test_references_that_fail_here_are_named_once_per_benchmark_dir(tmp_path):
    from runners.bench.run import check_references

    needs_pandas = Task(
        id="pandas",
        problem="",
        entry_point="f",
        tests=[],
        hidden_tests=["assert f() == 1"],
        reference_code="import pandas_not_installed_here\ndef f():\n    return 1\n",
    )
    fine = tasks()[0]
    evaluator = FakeEvaluator()
    failures = await check_references([fine, needs_pandas], evaluator, tmp_path / "out")
    assert list(failures) == ["pandas"] and "pandas_not_installed_here" in failures["pandas"]
    assert evaluator.calls == 2
    again = await check_references([fine, needs_pandas], evaluator, tmp_path / "out")  # --resume
    assert again == failures and evaluator.calls == 2


ORACLE = """
import csv
ROWS = [row for name in ("dev.csv", "test.csv") for row in csv.DictReader(open({dataset!r} + "/" + name))]

def respond(messages, params):
    if "reviewer" in messages[0]["content"]:
        return "Looks right.\\nScore: 5/5"
    prompt = messages[-1]["content"]
    for row in ROWS:
        if row["instruction"].strip() in prompt:
            return "The reference.\\n```python\\n" + row["completion"] + "\\n```"
    return "```python\\ndef unknown():\\n    pass\\n```"
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mbpp_v2", "humaneval_v2", "lbpp"])
def test_shared_datasets_run_end_to_end_with_limit(datasets, name, tmp_path, capsys):
    """A model that answers with each problem's reference solution, through the real CLI and
    sandbox: it solves exactly the problems whose reference passes in this environment."""
    from orps_tui.cli import main

    oracle = tmp_path / "oracle.py"
    oracle.write_text(ORACLE.format(dataset=str(datasets / name)))
    out = tmp_path / "out"
    code = main(
        [
            "bench",
            "--dataset",
            str(datasets / name),
            "--limit",
            "3",
            "--strategy",
            "orps,single",
            "--budget-calls",
            "4",
            "--samples",
            "2",
            "--beam",
            "1",
            "--model",
            f"scripted/{oracle}",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads((out / "report.json").read_text())
    validate("bench", doc)
    assert len(doc["problems"]) == 3
    solvable = 1 - len(doc["reference_failures"]) / 3
    for run in doc["runs"]:
        assert run["count"] == 3 and run["pass_at_1"] == pytest.approx(solvable, abs=1e-3)
        assert all(p["runtime_rel"] is not None for p in run["problems"] if p["passed_hidden"])
    assert "pass@1" in capsys.readouterr().out


def test_wilson_interval_matches_the_published_values_and_stays_inside_0_and_1():
    from runners.bench.report import wilson

    assert wilson(0, 10) == (0.0, 0.2775)  # Wilson (1927) / Newcombe (1998): 0 of 10 -> [0, 27.8%]
    assert wilson(5, 10) == (0.2366, 0.7634)
    assert wilson(10, 10) == (0.7225, 1.0)
    assert wilson(0, 0) == (0.0, 1.0)


async def test_shards_split_the_problems_into_their_own_files_and_a_final_resume_reports_the_whole_grid(tmp_path):
    asked = []

    def counting(messages, params):
        asked.append(1)
        return script(messages, params)

    register_script("bench-shard", counting)
    cfgs = configs("scripted/bench-shard", 2)[:1]
    four = tasks() + [Task.from_dict({**t.to_dict(), "id": t.id + "-b"}) for t in tasks()]
    first = await BenchRun(four, cfgs, FakeEvaluator(), tmp_path, shard=(1, 2)).run()
    second = await BenchRun(four, cfgs, FakeEvaluator(), tmp_path, shard=(2, 2)).run()
    assert [r.id for r in first[cfgs[0].key]] == ["overfit", "overfit-b"]
    assert [r.id for r in second[cfgs[0].key]] == ["solvable", "solvable-b"]
    assert sorted(p.name for p in tmp_path.glob("results*.jsonl")) == [
        "results.shard-1-of-2.jsonl",
        "results.shard-2-of-2.jsonl",
    ]
    searched = len(asked)
    whole = await BenchRun(four, cfgs, FakeEvaluator(), tmp_path, resume=True).run()
    assert [r.id for r in whole[cfgs[0].key]] == ["overfit", "solvable", "overfit-b", "solvable-b"]
    assert len(asked) == searched  # every cell was finished by a shard: nothing searched again


async def test_several_seeds_are_separate_cells_and_pass_at_1_is_reported_over_all_of_them_with_an_interval(tmp_path):
    register_script("bench-seeds", script)
    cfgs = []
    for seed in (0, 1, 2):
        s = SearchSettings(strategy="single", model="scripted/bench-seeds", budget_calls=1, seed=seed)
        cfgs.append(BenchConfig("single", 1, s))
    assert len({c.key for c in cfgs}) == 3 and len({c.group for c in cfgs}) == 1
    by_config = await BenchRun(tasks(), cfgs, FakeEvaluator(), tmp_path).run()
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted((line["id"], line["seed"]) for line in lines) == [
        (i, s) for i in ("overfit", "solvable") for s in (0, 1, 2)
    ]
    doc = report(
        by_config,
        cfgs,
        {"schema_version": 1, "dataset": "tiny", "model": "scripted/bench-seeds", "backend": "local", "workers": 1},
    )
    [cell] = doc["cells"]
    assert cell["seeds"] == [0, 1, 2] and cell["problems"] == 2 and cell["count"] == 6
    assert cell["pass_at_1"] == 0.5 and cell["pass_at_1_ci95"] == [0.1876, 0.8124]
    assert "95% Wilson" in table(doc) and "50% [19%, 81%]" in table(doc)
    validate("bench", doc)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0,x"], "is not a list of whole numbers"),
        (["--seeds", "1,1"], "needs distinct whole numbers"),
        (["--shard", "3/2", "--out", "o"], "is not K/N"),
        (["--shard", "1/2"], "--shard needs --out"),
    ],
)
def test_bench_refuses_bad_seeds_and_shards_with_one_line(argv, message, datasets, capsys):
    from orps_tui.cli import main

    code = main(["bench", "--dataset", str(datasets / "mbpp_v2"), "--model", "scripted/none", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
