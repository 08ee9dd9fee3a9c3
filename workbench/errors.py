"""The one exception type that reaches a user as a single clean line (exit status 2)."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user: a recipe, a data file, a flag.

    The message is one line: where (file, line, field) and what was expected.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line
