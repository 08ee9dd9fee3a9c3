"""Reading user files (recipes, data) as UTF-8, BOM allowed, with one-line errors that name
the file and, for bad bytes, the line."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import UserError


def read_text_file(path: str | Path, what: str = "data file") -> str:
    """Read a whole file as UTF-8 (BOM allowed), with one-line errors."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} not found", path=p) from None
    except IsADirectoryError:
        raise UserError(f"{what} is a directory", path=p) from None
    except PermissionError:
        raise UserError(f"{what} is not readable (permission denied)", path=p) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(
            f"not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); save the file as UTF-8", path=p, line=line
        ) from None
