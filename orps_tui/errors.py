"""The one exception type the CLI turns into a clear message and an exit code."""


class UserError(Exception):
    """A problem the user can fix (bad input, missing file, unknown target...).

    The CLI prints `orps: <message>` (plus `hint` when given) and exits with `code`,
    never a traceback.
    """

    def __init__(self, message: str, *, hint: str = "", code: int = 2):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


EXIT_MODEL_ERROR = 3
"""The model cannot answer (unknown model, bad key, unreachable server, not installed)."""
EXIT_MODEL_CRASHED = 4
"""The embedded model's process crashed (a signal in llama.cpp), was killed or hung; the run is kept."""
