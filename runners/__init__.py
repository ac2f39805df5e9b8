"""Everything that touches the user's files and processes, one sub-package per job:
`code` (locate, splice, patch), `testing` (test selection, the evaluator, the verdict),
`sandbox`, `project` (its files and Python), `speed` (same behaviour, faster), `review`,
`bench`, `ray`. May import `search`'s data types; never imports `orps_tui`.

Each name is imported from the module that defines it (`runners.testing.evaluator.SandboxEvaluator`,
`runners.sandbox.run.run_sandboxed`); importing this package imports nothing else, so a command
that only locates code never loads the evaluator and with it pytest."""
