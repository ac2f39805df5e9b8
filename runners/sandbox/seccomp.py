"""The seccomp filter every sandboxed run gets (bwrap loads it from `--seccomp FD`).

A small classic-BPF program, written once here so nothing has to be installed: it refuses
(EPERM) the system calls that reach kernel code a test run never needs and that a nested
namespace would hand full capabilities for: new namespaces (`unshare`, `setns`, `clone`
with any CLONE_NEW* flag), every way to mount, `bpf`, `io_uring_*`, the key ring
(`keyctl`, `add_key`, `request_key`), `ptrace` (the PID namespace already hides every
process outside; inside, nothing legitimate needs it), `perf_event_open` (unless perf
counters are measured), `userfaultfd`, and module and kexec loading. `clone3` gets ENOSYS,
so the C library falls back to `clone`, whose flags a filter can read (clone3 passes them
in memory, out of a filter's reach). Calls of another ABI (x32, i386 via `int 0x80`) are
refused outright, so no number can be replayed under another table.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
CLONE_NEW_FLAGS = 0x7E020080  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME

_DENIED_NAMES = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "bpf",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
)

_TABLES = {
    "x86_64": (
        0xC000003E,
        {
            "clone": 56,
            "clone3": 435,
            "perf_event_open": 298,
            "unshare": 272,
            "setns": 308,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "open_tree": 428,
            "move_mount": 429,
            "fsopen": 430,
            "fsconfig": 431,
            "fsmount": 432,
            "fspick": 433,
            "mount_setattr": 442,
            "bpf": 321,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "ptrace": 101,
            "userfaultfd": 323,
            "kexec_load": 246,
            "kexec_file_load": 320,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone": 220,
            "clone3": 435,
            "perf_event_open": 241,
            "unshare": 97,
            "setns": 268,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "open_tree": 428,
            "move_mount": 429,
            "fsopen": 430,
            "fsconfig": 431,
            "fsmount": 432,
            "fspick": 433,
            "mount_setattr": 442,
            "bpf": 280,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "ptrace": 117,
            "userfaultfd": 282,
            "kexec_load": 104,
            "kexec_file_load": 294,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
        },
    ),
}
_X32_BIT = 0x40000000


def supported() -> bool:
    return platform.machine() in _TABLES


def program(allow_perf: bool = False) -> bytes:
    """The filter as `struct sock_filter[]` bytes, for this machine's architecture."""
    arch, numbers = _TABLES[platform.machine()]
    denied = [numbers[name] for name in _DENIED_NAMES] + ([] if allow_perf else [numbers["perf_event_open"]])
    code: list[tuple] = []  # (op, jump-if-true label or 0, jump-if-false label or 0, k)
    code.append((_LD_W_ABS, 0, 0, _ARCH))
    code.append((_JEQ_K, 0, "deny", arch))
    code.append((_LD_W_ABS, 0, 0, _NR))
    if platform.machine() == "x86_64":
        code.append((_JGE_K, "deny", 0, _X32_BIT))
    code.append((_JEQ_K, "clone", 0, numbers["clone"]))
    code.append((_JEQ_K, "enosys", 0, numbers["clone3"]))
    for nr in denied:
        code.append((_JEQ_K, "deny", 0, nr))
    code.append((_RET_K, 0, 0, _ALLOW))
    labels = {"clone": len(code)}
    code.append((_LD_W_ABS, 0, 0, _ARG0_LOW))
    code.append((_JSET_K, "deny", 0, CLONE_NEW_FLAGS))
    code.append((_RET_K, 0, 0, _ALLOW))
    labels["deny"] = len(code)
    code.append((_RET_K, 0, 0, _ERRNO | errno.EPERM))
    labels["enosys"] = len(code)
    code.append((_RET_K, 0, 0, _ERRNO | errno.ENOSYS))

    def offset(target, at: int) -> int:
        if not target:
            return 0
        jump = labels[target] - (at + 1)
        assert 0 <= jump < 256, "a BPF jump is one byte"
        return jump

    return b"".join(struct.pack("=HBBI", op, offset(jt, i), offset(jf, i), k) for i, (op, jt, jf, k) in enumerate(code))


def filter_fd(allow_perf: bool = False) -> int:
    """A file descriptor holding the program, positioned at its start (bwrap reads it to EOF)."""
    fd = os.memfd_create("orps-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program(allow_perf))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
