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


def plural(word: str, n: int = 2) -> str:
    """`word` for n things: run -> runs, class -> classes, entity -> entities, entity type -> entity types
    (the last word changes); n == 1 keeps it."""
    if n == 1:
        return word
    if word.endswith(("s", "x", "sh", "ch")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "o", "u"):
        return word[:-1] + "ies"
    return word + "s"


def counted(n: int, word: str) -> str:
    """`3 runs`, `1 class`, `0 rows`: a count and its noun, pluralised by `plural`."""
    return f"{n:,} {plural(word, n)}"


def runs_count(n: int) -> str:
    return counted(n, "run")


def fmt_bytes(n: int) -> str:
    """Bytes as `gc` and `rm` say them: 4,096 bytes, 1.5 KiB, 2.0 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


def size_said(n: int) -> str:
    """A size freed or moved, short and exact: `1.5 KiB (1,536 bytes)`, `512 bytes`."""
    short = fmt_bytes(n)
    return short if short.endswith(" bytes") else f"{short} ({n:,} bytes)"


# --- fairness (store/read.py FairnessRow, bias_scores) ---------------------------------------------------

AUC_TITLES = {"subgroup_auc": "subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC"}
BIAS_SUMMARY = (("bias_final_score", "final score"), ("overall_auc", "overall AUC"),
                ("bias_subgroup_auc", "subgroup mean"), ("bias_bpsn_auc", "BPSN mean"), ("bias_bnsp_auc", "BNSP mean"))


def base_to_tuned(pair: tuple[Any, Any]) -> str:
    return f"{fmt(pair[0])} → {fmt(pair[1])}"


def group_name(column: str | None, group: str, columns: int) -> str:
    """A group as the tables show it: COLUMN:GROUP where the run has several group columns."""
    return f"{column}:{group}" if column and columns > 1 else group


def auc_missing(reason: str | None) -> str:
    """Why an AUC has no value, short: "9 negatives in the group and 9 positives in the background
    (needs 10)" -> "9 neg, 9 pos < 10" (the store's reason column holds the long form)."""
    if not reason:
        return "—"
    counts = [f"{w.split()[0]} {w.split()[1][:3]}" for w in reason.split(" (needs")[0].split(" and ")
              if len(w.split()) > 1]
    return ", ".join(counts) + f" < {reason.rsplit('needs ', 1)[-1].rstrip(')')}" if counts else reason


def bias_summary(label: str, scores: dict[str, tuple[Any, Any]]) -> str:
    """One positive class's bias summary, base → tuned: the final score, overall AUC and AUC means."""
    return f"{label}: " + " · ".join(f"{title} {base_to_tuned(scores[m])}" for m, title in BIAS_SUMMARY if m in scores)


def short_names(run_ids: list[str]) -> dict[str, str]:
    """Distinct short column names: the last `-` segments of each id, as few as keep them apart
    (`a1b2`, `0001`), so several runs fit side by side in 80 columns (the app's compare columns, the
    legend of `workbench curves`)."""
    for n in (1, 2, 3):
        names = {rid: "-".join(rid.split("-")[-n:]) for rid in run_ids}
        if len(set(names.values())) == len(run_ids) and all(len(v) <= 20 for v in names.values()):
            return names
    return {rid: rid if len(rid) <= 20 else "…" + rid[-19:] for rid in run_ids}


def target_word(value: float | None, met: bool | None) -> str:
    """met / not met / not met, not in the evaluation."""
    if value is None:
        return "not met, not in the evaluation"
    return "met" if met else "not met"
