"""Static metrics from the AST, perf parsing, dynamic metrics from the plugin's record."""

from __future__ import annotations

from runners.testing.metrics import cyclomatic, dynamic_metrics, parse_perf, perf_available, static_metrics


def test_static_metrics_of_a_simple_function():
    m = static_metrics("def f(x):\n    # a comment\n\n    return x + 1\n")
    assert m["loc"] == 2 and m["chars"] > 20 and m["cyclomatic"] == 1 and m["ast_nodes"] > 5


def test_cyclomatic_counts_branches_and_boolean_operands():
    import ast

    code = (
        "def f(x):\n    if x and y or z:\n        pass\n    for i in x:\n        pass\n    return [a for a in x if a]\n"
    )
    assert cyclomatic(ast.parse(code)) == 1 + 1 + 2 + 1 + 1  # if, and/or (3 operands in 2 BoolOps), for, comp


def test_code_that_does_not_parse_gets_only_its_length():
    m = static_metrics("def f(:\n")
    assert set(m) == {"loc", "chars"}


def test_more_complex_code_scores_higher():
    simple = static_metrics("def f(x):\n    return x\n")
    branchy = static_metrics(
        "def f(x):\n    if x:\n        return 1\n    elif x < 0:\n        return 2\n    return 3\n"
    )
    assert branchy["cyclomatic"] > simple["cyclomatic"] and branchy["ast_nodes"] > simple["ast_nodes"]


def test_perf_output_parsing():
    assert parse_perf("12345,,instructions:u,1000,100.00,,\n") == 12345
    assert parse_perf("<not supported>,,instructions:u,0,100.00,,\n") is None
    assert parse_perf("") is None


def _fake_perf(tmp_path, monkeypatch, stderr: str, code: int = 0) -> None:
    """Put a `perf` on PATH that prints `stderr` and exits with `code`; forget the cached probe."""
    perf = tmp_path / "perf"
    perf.write_text(f"#!/bin/sh\nprintf '%s' '{stderr}' >&2\nexit {code}\n")
    perf.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    perf_available.cache_clear()


def test_perf_available_when_perf_counts_instructions(tmp_path, monkeypatch):
    _fake_perf(tmp_path, monkeypatch, "12345,,instructions:u,1000,100.00,,")
    try:
        assert perf_available() is True
    finally:
        perf_available.cache_clear()


def test_perf_unavailable_when_counters_are_not_supported_or_perf_is_missing(tmp_path, monkeypatch):
    _fake_perf(tmp_path, monkeypatch, "<not supported>,,instructions:u,0,100.00,,")
    try:
        assert perf_available() is False
        (tmp_path / "perf").unlink()
        perf_available.cache_clear()
        assert perf_available() is False
    finally:
        perf_available.cache_clear()


def test_dynamic_metrics_from_the_finish_record():
    assert dynamic_metrics({"cpu_s": 0.5, "maxrss_kb": 2048}) == {"cpu_s": 0.5, "peak_rss_mb": 2.0}
    assert dynamic_metrics(None) == {"cpu_s": None, "peak_rss_mb": None}
