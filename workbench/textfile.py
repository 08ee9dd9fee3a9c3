"""Reading user files (recipes, data) as UTF-8, BOM allowed, with one-line errors that name
the file and, for bad bytes, the line; and the check every reader of a user's file goes through
first: the path is a regular file, not a device, a FIFO or a folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from workbench.errors import UserError

# What a path that is not a regular file is, in a user's words (stat's file types).
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def regular_file(path: str | Path, what: str = "data file") -> Path:
    """`path` if it names a regular file (a link to one is one), else one line saying what it is.

    Only stat is asked, which never blocks: opening a FIFO waits for a writer, and reading a device
    never ends (/dev/urandom) or fills the memory (/dev/zero)."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise UserError(f"{what} not found", path=p) from None
    except NotADirectoryError:
        raise UserError(f"{what} not found (a folder on its path is a file)", path=p) from None
    except PermissionError:
        raise UserError(f"{what} is not readable (permission denied on its folder)", path=p) from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "of another kind")
        raise UserError(f"{what} is {kind}, not a regular file", path=p)
    return p


def read_text_file(path: str | Path, what: str = "data file") -> str:
    """Read a whole file as UTF-8 (BOM allowed), with one-line errors."""
    p = regular_file(path, what)
    try:
        data = p.read_bytes()
    except FileNotFoundError:  # removed since the check
        raise UserError(f"{what} not found", path=p) from None
    except PermissionError:
        raise UserError(f"{what} is not readable (permission denied)", path=p) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(
            f"not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); save the file as UTF-8", path=p, line=line
        ) from None
