"""The one exception type that reaches a user as a single clean line (exit status 2)."""

from __future__ import annotations

import re
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Control characters (a newline in a quoted TOML key, a CSV header name, a path) shown as
    escapes, so a message always stays one line on the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


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
        super().__init__(one_line(where + message))
        self.path = path
        self.line = line
