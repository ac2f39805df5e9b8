"""Static metrics from the AST, perf parsing, dynamic metrics from the plugin's record."""

from __future__ import annotations

from runners.metrics import cyclomatic, dynamic_metrics, parse_perf, perf_available, static_metrics


def test_static_metrics_of_a_simple_function():
    m = static_metrics("def f(x):\n    # a comment\n\n    return x + 1\n")
    assert m["loc"] == 2 and m["chars"] > 20 and m["cyclomatic"] == 1 and m["ast_nodes"] > 5


def test_cyclomatic_counts_branches_and_boolean_operands():
    import ast

    code = "def f(x):\n    if x and y or z:\n        pass\n    for i in x:\n        pass\n    return [a for a in x if a]\n"
    assert cyclomatic(ast.parse(code)) == 1 + 1 + 2 + 1 + 1  # if, and/or (3 operands in 2 BoolOps), for, comp


def test_code_that_does_not_parse_gets_only_its_length():
    m = static_metrics("def f(:\n")
    assert set(m) == {"loc", "chars"}


def test_more_complex_code_scores_higher():
    simple = static_metrics("def f(x):\n    return x\n")
    branchy = static_metrics("def f(x):\n    if x:\n        return 1\n    elif x < 0:\n        return 2\n    return 3\n")
    assert branchy["cyclomatic"] > simple["cyclomatic"] and branchy["ast_nodes"] > simple["ast_nodes"]


def test_perf_output_parsing():
    assert parse_perf("12345,,instructions:u,1000,100.00,,\n") == 12345
    assert parse_perf("<not supported>,,instructions:u,0,100.00,,\n") is None
    assert parse_perf("") is None
    assert perf_available() in (True, False)  # probed once, never raises


def test_dynamic_metrics_from_the_finish_record():
    assert dynamic_metrics({"cpu_s": 0.5, "maxrss_kb": 2048}) == {"cpu_s": 0.5, "peak_rss_mb": 2.0}
    assert dynamic_metrics(None) == {"cpu_s": None, "peak_rss_mb": None}
