"""The sandbox: running an untrusted command on a throwaway copy of the project.

- `run`: `run_sandboxed` starts one run (cold, or forked from a warm worker), watches it and
  collects its output, exit and resource use;
- `bwrap`: the bubblewrap command line, the read-only view of the system, and the probes of
  what this machine supports (namespaces, seccomp, overlays; `isolation_report`);
- `caps`: `Limits` and `SandboxResult`, rlimits, per-run cgroups, and the disk and memory
  caps that hold without cgroups; `procs`: finding and killing a run's processes;
- `seccomp`: the syscall filter; `_launch`: the first process inside where the system has no
  `prlimit` (sets limits, then execs);
- `cleanup`: what a run leaves behind (stray processes, scratch directories);
- `workspace`: the copy of the project a run sees (hard links, the candidate's file fresh,
  the test harness beside it).
"""
