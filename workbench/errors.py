"""The one exception type that reaches a user as a clean message (exit status 2): a single line,
or, for a query's error, DuckDB's whole message (its hints and the caret under the fault); and
which errors are the machine's, not workbench's (a full disk, a read-only folder: also exit status 2)."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Control characters (a newline in a quoted TOML key, a CSV header name, a path) shown as
    escapes, so a message always stays one line on the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class UserError(Exception):
    """Bad input from the user: a recipe, a data file, a flag.

    The message is one line: where (file, line, field) and what was expected. With `multiline`
    (a query's error: DuckDB's message, its hints such as `Did you mean "runs"?` and the `LINE 1:`
    line with the caret under the fault) it keeps its lines, blank ones left out; `lines` gives them.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 multiline: bool = False):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        text = where + message
        if multiline:
            text = "\n".join(one_line(t.rstrip()) for t in text.splitlines() if t.strip()) or one_line(text)
        else:
            text = one_line(text)
        super().__init__(text)
        self.path = path
        self.line = line
        self.multiline = multiline

    @property
    def lines(self) -> list[str]:
        """The message's lines: one, unless made with `multiline`."""
        return str(self).split("\n")


# A full disk, a read-only file system, a folder the user may not write, a quota: the user's
# environment, reported in one line with exit status 2. Any other OSError stays a bug (exit status 1).
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT)


def environment_fault(e: BaseException) -> str | None:
    """"PATH: cause" when `e` is an OSError of the environment (ENVIRONMENT_ERRNOS), else None."""
    if not isinstance(e, OSError) or e.errno not in ENVIRONMENT_ERRNOS:
        return None
    where = ", ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    return one_line(f"{where}: {e.strerror}" if where else e.strerror or os.strerror(e.errno))


def environment_cause(message: str) -> str | None:
    """The environment's cause named in a library's error text (DuckDB reports a failed write as
    'Could not write file "...": No space left on device'), else None."""
    return next((os.strerror(n) for n in ENVIRONMENT_ERRNOS if os.strerror(n) in message), None)
