"""A look at a recipe's data before training (`workbench data`, the editor's Data tab): per split,
its rows, how its labels are distributed, how long its texts are for the model (and how many
`model.max_length` truncates), and the exact duplicate texts within it and shared with the
training split (leakage).

Pure computation from what a task gives (`Task.profile_rows`: the texts the model is fed and each
row's labels) and the texts' lengths; no model, no torch, no rendering. Every result is a plain
dataclass (`asdict` is the JSON the command prints).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)
HISTOGRAM_BINS = 10
EXAMPLES = 3         # duplicate texts shown per finding
EXAMPLE_CHARS = 60   # an example text is cut to this many characters


@dataclass
class ProfileRows:
    """What a task gives for one split's records (`Task.profile_rows`)."""
    texts: list[str]          # the text the model is fed, one per row
    labels: list[list[str]]   # per row: its labels / its class / the entity type of each entity mention
    label_unit: str = "rows"  # what a label's count counts: "rows" (rows having it) or "mentions" (NER)
    shown: list[str] | None = None  # what an example shows of each row, when not its text (a prompt's user turn)


@dataclass
class LabelCount:
    label: str
    count: int
    share: float  # of the split's rows ("rows"), or of all its mentions ("mentions")


@dataclass
class Lengths:
    """Length percentiles (nearest rank: every value is a real row's length) and a histogram."""
    unit: str                  # "tokens" or "characters"
    p50: int
    p90: int
    p95: int
    p99: int
    max: int
    bins: list[tuple[int, int, int]] = field(default_factory=list)  # (low, high inclusive, rows)
    max_length: int | None = None   # model.max_length (token lengths only)
    truncated: int | None = None    # rows longer than max_length
    truncated_share: float | None = None


@dataclass
class Duplicates:
    """Exact duplicate texts: `rows` counted as the rows that repeat a text seen before (within a
    split) or as the rows of the other split whose text is in the training split (leakage);
    `texts`: how many distinct texts that is; `examples`: up to three of them, cut short."""
    rows: int = 0
    texts: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class SplitProfile:
    split: str
    rows: int
    label_unit: str
    labels: list[LabelCount]
    lengths: Lengths
    duplicates: Duplicates


@dataclass
class DataProfile:
    """A recipe's data as a whole: its splits, the leakage of each evaluation split into train."""
    recipe: str
    task: str
    label_word: str                 # label, class, entity type
    lengths_note: str               # how lengths were measured (the tokenizer, or why characters)
    splits: list[SplitProfile]
    leakage: dict[str, Duplicates]  # "validation" / "test" -> its rows whose text is in train

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def example(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line, at most `limit` characters (an ellipsis marks a cut)."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[:limit - 1] + "…"


def label_counts(labels: list[list[str]], label_names: list[str], unit: str) -> list[LabelCount]:
    """Counts in `label_names` order (labels that never occur included, then any others seen).
    "rows": the rows having each label (a label listed twice in a row counts once); "mentions":
    every occurrence, with shares of all occurrences."""
    counts: Counter[str] = Counter()
    for row in labels:
        counts.update(row if unit == "mentions" else set(row))
    names = list(label_names) + sorted(n for n in counts if n not in label_names)
    total = sum(counts.values()) if unit == "mentions" else len(labels)
    return [LabelCount(n, counts[n], counts[n] / total if total else 0.0) for n in names]


def length_stats(lengths: list[int], unit: str, max_length: int | None = None, bins: int = HISTOGRAM_BINS) -> Lengths:
    """Percentiles (nearest rank), max, an equal-width histogram over [min, max], and with
    `max_length` the rows longer than it."""
    a = np.asarray(lengths, dtype=np.int64)
    if not len(a):
        return Lengths(unit, 0, 0, 0, 0, 0, [], max_length, 0 if max_length else None, 0.0 if max_length else None)
    p = {q: int(np.percentile(a, q, method="inverted_cdf")) for q in PERCENTILES}
    lo, hi = int(a.min()), int(a.max())
    n_bins = max(1, min(bins, hi - lo + 1))
    edges = np.linspace(lo, hi + 1, n_bins + 1)
    counts, _ = np.histogram(a, bins=edges)
    out_bins = []
    for i, c in enumerate(counts):
        low = int(np.ceil(edges[i]))
        high = int(np.ceil(edges[i + 1])) - 1
        out_bins.append((low, high, int(c)))
    truncated = share = None
    if max_length:
        truncated = int((a > max_length).sum())
        share = truncated / len(a)
    return Lengths(unit, p[50], p[90], p[95], p[99], hi, out_bins, max_length, truncated, share)


def duplicates(texts: list[str], shown: list[str] | None = None) -> Duplicates:
    """Rows repeating a text seen earlier in the same split; examples from `shown` (else the texts)."""
    counts = Counter(texts)
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        if counts[t] > 1:
            first.setdefault(t, i)  # in order of first appearance
    examples = [example((shown or texts)[i]) for i in list(first.values())[:EXAMPLES]]
    return Duplicates(sum(counts[t] - 1 for t in first), len(first), examples)


def leakage(train_texts: list[str], other_texts: list[str], shown: list[str] | None = None) -> Duplicates:
    """Rows of another split (validation, test) whose exact text is also in the training split;
    examples from `shown` (what each row of the other split shows; else its texts)."""
    seen = set(train_texts)
    first: dict[str, int] = {}
    rows = 0
    for i, t in enumerate(other_texts):
        if t in seen:
            rows += 1
            first.setdefault(t, i)
    examples = [example((shown or other_texts)[i]) for i in list(first.values())[:EXAMPLES]]
    return Duplicates(rows, len(first), examples)


def profile_split(split: str, rows: ProfileRows, lengths: list[int], *, label_names: list[str], unit: str,
                  max_length: int | None) -> SplitProfile:
    """One split: `lengths` per row in `unit` ("tokens", compared with `max_length`, or "characters")."""
    return SplitProfile(split, len(rows.texts), rows.label_unit, label_counts(rows.labels, label_names, rows.label_unit),
                        length_stats(lengths, unit, max_length if unit == "tokens" else None),
                        duplicates(rows.texts, rows.shown))


def histogram_lines(lengths: Lengths, width: int = 30) -> list[str]:
    """The histogram as text, one bin a line: `  12–  19 ████████▍      153`."""
    if not lengths.bins:
        return []
    top = max(c for _, _, c in lengths.bins) or 1
    w = len(str(lengths.bins[-1][1]))
    lines = []
    for low, high, count in lengths.bins:
        span = f"{low:>{w}}–{high:<{w}}" if high > low else f"{low:>{w}} {'':<{w}}"
        lines.append(f"{span} {bar(count / top, width)} {count}")
    return lines


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `fraction` x `width` cells in unicode eighths, padded to `width`."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, rest = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[rest] if rest else "")
    return text.ljust(width)
