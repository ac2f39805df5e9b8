"""Running the user's tests on a candidate and judging the outcome.

- `testselect`, `reach`, `pytestconfig`: which tests exercise a target (static), under the
  project's own collection rules;
- `evaluator`: `SandboxEvaluator`, the `search.types.Evaluator` that splices a candidate into
  a workspace and runs its tests in the sandbox; `prepare`: what a run is given besides the
  candidate; `verdict`: the plugin's channel and `judge`, the verdict and counts from what
  the tests recorded; `metrics`: the measurements in the outcome score;
- `warm`: pre-started interpreters that fork per run; `confirm`: a passing candidate re-run
  in its own process behind a proxy; `harness_bytecode`: the files below compiled once per
  bytecode format (cached), not in every run;
- files run inside the sandbox, stdlib only, found by file name in this directory (keep them
  together): `_test_boot` (starts pytest), `pytest_plugin` (records each test over a keyed
  channel), `_pytest_compat` (every private `_pytest` name they use), `_proxy`,
  `_warm_worker`.
"""
