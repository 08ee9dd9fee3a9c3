"""Plain-text forms of values, counts, sizes and durations, the same in the CLI, the app and the one-line
summaries the actions return (no rich here: the actions import it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v.is_integer() and abs(v) >= 2:  # counts (support, steps); 1.0 stays a score
            return f"{int(v)}"
        return f"{v:.{digits}f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def fmt_count(n: int | None) -> str:
    if n is None:
        return "—"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


NAMED_RUNS = 10  # a question names this many runs, then "and N more"


def runs_named(names: Sequence[str], limit: int = NAMED_RUNS) -> str:
    """The runs a question acts on, one per line (indented): the first `limit`, then "and N more"."""
    lines = [f"  {n}" for n in names[:limit]]
    if len(names) > limit:
        lines.append(f"  and {len(names) - limit} more")
    return "\n".join(lines)


def runs_count(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


def fmt_bytes(n: int) -> str:
    """Bytes as `gc` and `rm` say them: 4,096 bytes, 1.5 KiB, 2.0 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"
