"""Reviewing a change orps did not write (a diff file, a git range, a branch): both sides of
the change as directories of their own (`sides`), the functions it touches (`touched`), and
their tests run on both sides in the sandbox (`compare`). The user's tree and git state are
only ever read."""
