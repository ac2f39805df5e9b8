"""The embedded model's Q8_0 copy: made once, atomically, keyed by the source file; any
failure means the original file is loaded, with one line saying why."""

from __future__ import annotations

import sys

import pytest

from search.providers import local, model_worker, q8_copy

GOOD_GGUF = b"GGUF" + b"\0" * 4096


def converter(script: str):
    """A stand-in for llama.cpp's conversion: `script` runs with SRC and DST in sys.argv."""
    return lambda source, temp: [sys.executable, "-c", script, str(source), str(temp)]


WRITES_GGUF = converter(f"import sys; open(sys.argv[2], 'wb').write({GOOD_GGUF!r})")


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "wheel" / "Model.Q4_1.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + b"\1" * 2048)
    return path


def test_the_copy_is_made_once_and_then_reused(source, tmp_path):
    heard: list[str] = []
    first = q8_copy.prepare(source, tmp_path / "cache", heard.append, command=WRITES_GGUF)
    assert first.parent == tmp_path / "cache" and first.name.endswith(".q8_0.gguf")
    assert first.read_bytes() == GOOD_GGUF
    assert heard[0] == q8_copy.PREPARING and "ready" in heard[1]
    heard.clear()
    fails = converter("raise SystemExit(9)")
    assert q8_copy.prepare(source, tmp_path / "cache", heard.append, command=fails) == first
    assert heard == []


def test_a_new_source_file_gets_a_new_copy_and_the_old_copy_goes(source, tmp_path):
    old = q8_copy.prepare(source, tmp_path / "cache", lambda _: None, command=WRITES_GGUF)
    source.write_bytes(b"GGUF" + b"\2" * 4096)  # a new wheel: another size and mtime
    new = q8_copy.prepare(source, tmp_path / "cache", lambda _: None, command=WRITES_GGUF)
    assert new != old and new.exists() and not old.exists()


@pytest.mark.parametrize(
    "script, reason",
    [
        ("import sys; open(sys.argv[2], 'wb').write(b'GGUF' + b'0' * 100); raise SystemExit(3)", "status 3"),
        ("import sys; open(sys.argv[2], 'wb').write(b'nonsense' * 1000)", "no complete GGUF"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "status -11"),
    ],
)
def test_a_failed_conversion_loads_the_original_and_leaves_no_file_behind(source, tmp_path, script, reason):
    heard: list[str] = []
    chosen = q8_copy.prepare(source, tmp_path / "cache", heard.append, command=converter(script))
    assert chosen == source
    assert reason in heard[-1] and "using the original file" in heard[-1]
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_torn_copy_under_the_final_name_is_never_loaded(source, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    q8_copy.copy_path(source, cache).write_bytes(b"GG")  # cut short
    chosen = q8_copy.prepare(source, cache, lambda _: None, command=WRITES_GGUF)
    assert chosen.read_bytes() == GOOD_GGUF


def test_no_copy_is_started_when_the_disk_has_no_room(source, tmp_path, monkeypatch):
    monkeypatch.setattr(q8_copy, "os_free_bytes", lambda directory: 10 * 2**20)
    heard: list[str] = []
    ran = tmp_path / "ran"
    chosen = q8_copy.prepare(source, tmp_path / "cache", heard.append, command=converter(f"open({str(ran)!r}, 'w')"))
    assert chosen == source and not ran.exists()
    assert "MB free" in heard[-1]


def test_an_unwritable_cache_directory_loads_the_original(source, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    heard: list[str] = []
    assert q8_copy.prepare(source, blocker / "cache", heard.append, command=WRITES_GGUF) == source
    assert "cannot be written" in heard[-1]


def test_a_copy_that_does_not_load_is_deleted_and_the_original_loaded(source, tmp_path, monkeypatch):
    from search.providers import llama_backend

    cache = tmp_path / "cache"
    copy = q8_copy.prepare(source, cache, lambda _: None, command=WRITES_GGUF)
    loaded: list[str] = []

    def load_model(path, **kwargs):
        loaded.append(path)
        if path == str(copy):
            raise ValueError("Failed to load model from file")
        return object()

    monkeypatch.setattr(llama_backend, "load_model", load_model)
    backend = model_worker.LlamaBackend(str(source), 512, 1, q8_copy_dir=str(cache))
    heard: list[str] = []
    backend.connect(notice=heard.append, heartbeat=lambda: None)
    assert backend._load() is not None
    assert loaded == [str(copy), str(source)]
    assert not copy.exists() and "deleted it" in heard[-1]


def test_only_the_embedded_model_is_loaded_from_a_copy(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    embedded = local.worker_options("smollm2")
    assert embedded["extra_args"] == ("--q8-copy-dir", str(tmp_path / "orps" / "models"))
    assert "extra_args" not in local.worker_options(str(tmp_path / "mine.gguf"))


def test_the_childs_notices_reach_the_user(monkeypatch, tmp_path):
    from search.providers import model_process

    heard: list[str] = []
    monkeypatch.setattr(model_process, "notify", heard.append)
    monkeypatch.setattr(model_process, "WORKER_MODULE", "tests.fake_model_worker")
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    child = model_process.ModelProcess(str(path))
    try:
        child._handle({"event": "notice", "text": q8_copy.PREPARING})
        child._handle({"event": "alive"})
    finally:
        child.close()
    assert heard == [q8_copy.PREPARING]


@pytest.mark.slow
def test_the_real_conversion_makes_a_q8_0_file_that_loads(tmp_path):
    pytest.importorskip("llama_cpp")
    from search.providers import llama_backend

    heard: list[str] = []
    copy = q8_copy.prepare(local.smollm2_path(), tmp_path, heard.append)
    assert copy.parent == tmp_path, heard
    import llama_cpp.llama_cpp as native

    llm = llama_backend.load_model(str(copy), n_ctx=256, n_threads=1)
    assert llm.metadata.get("general.file_type") == str(native.LLAMA_FTYPE_MOSTLY_Q8_0)
