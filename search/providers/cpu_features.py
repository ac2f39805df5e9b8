"""The CPU features that decide which llama.cpp kernels run, as the kernel reports them.

llama.cpp picks its matrix kernels by instruction set: AVX2 is the baseline fast path,
AVX-512 a faster one, AMX (Intel Sapphire Rapids and later) its tile path, which is what
crashed on VMs that report AMX without granting it. `orps doctor` shows these next to the
build's own view (llama_print_system_info).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GROUPS = {
    "AVX2": ("avx2",),
    "AVX-512": ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"),
    "AMX": ("amx_tile", "amx_int8", "amx_bf16"),
    "AVX-VNNI": ("avx_vnni",),
}


def cpu_features(cpuinfo: str | None = None) -> dict[str, Any]:
    """{"model": name, "features": {"AVX2": [flags present], ...}} from /proc/cpuinfo (or the
    text given); an empty "features" where the file cannot be read (not Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return {"model": None, "features": {}}
    flags: set[str] = set()
    model = None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "model name" and model is None:
            model = value.strip()
    return {"model": model, "features": {group: [f for f in names if f in flags] for group, names in GROUPS.items()}}


def describe(report: dict[str, Any]) -> str:
    """`AVX2 yes, AVX-512 no, AMX no, AVX-VNNI no` (with the flags of a partly present group)."""
    parts = []
    for group, names in GROUPS.items():
        present = report["features"].get(group, [])
        if not present:
            parts.append(f"{group} no")
        elif len(names) > 1 and len(present) < len(names):
            parts.append(f"{group} yes ({' '.join(present)})")
        else:
            parts.append(f"{group} yes")
    return ", ".join(parts)
