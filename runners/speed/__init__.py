"""Same behaviour, real speed-up (`--goal faster`) and agreement probes.

- `equivalence`: the calls the tests make to the target, recorded with the original and
  replayed on a candidate, answers compared; `timing`: the finalists timed per call against
  the original; `trace`: real calls recorded while a command runs (`orps trace`);
- `probes`: probe runs of a project's function for agreement among tied candidates;
- files named `_orps_*` run inside the sandbox, stdlib only, and are copied by file name
  from this directory (keep them together): `_orps_record`, `_orps_replay`, `_orps_values`,
  `_orps_timing`, `_orps_tracehook`.
"""
