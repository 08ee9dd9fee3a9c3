"""What a model got wrong, read off one row of a run's prediction file (`predictions_<phase>_<split>.jsonl`):
the shape every task's mistakes share, and the registry that finds a task's judge (`workbench errors`,
the app's Errors tab; workbench/actions/errors.py).

A prediction row's fields differ per task, so each task module says how one of its rows is judged:
its `judge_row(row) -> Judged` (classification.py, chat_classification.py, ner.py). `judge_of(kind)`
finds it through the task's class, so the Task protocol stays as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Mistake:
    """One example a model got wrong.

    `confidence`: how sure the model was of its mistake, the sort key (highest first): the score of the
    wrong class / label it predicted, or 1 - the score of a gold label it missed, whichever is higher;
    None where the row holds no scores (generated answers), then `missed` + `added` counts order them.
    `about`: the labels (classes, entity types) the mistake involves, what --label filters on.
    `cell`: (gold, predicted) of a single-label mistake, its confusion-matrix cell."""

    line: int | None                    # the example's line (or row) in its data file
    text: str
    gold: str                           # as the task writes it: a class, "a, b" labels, "PER: Ada; LOC: Rome"
    predicted: str
    confidence: float | None
    scores: dict[str, float] = field(default_factory=dict)   # the involved labels' scores
    missed: tuple[str, ...] = ()        # gold labels / entities not predicted (multi-label, NER)
    added: tuple[str, ...] = ()         # predicted labels / entities not in the gold (multi-label, NER)
    answer: str | None = None           # a generative model's answer text (chat classification, NER)
    about: tuple[str, ...] = ()
    cell: tuple[str, str] | None = None


class Judged(NamedTuple):
    """A prediction row judged: its mistake (None when the model got it right) and every label the row
    names (gold, predicted, scored), so a --label no row names is refused, not silently empty."""

    mistake: Mistake | None
    labels: frozenset[str]


Judge = Callable[[dict[str, Any]], Judged]


def judge_of(kind: str) -> Judge:
    """The row judge of task `kind`: `judge_row` of the module that defines its class."""
    from workbench.tasks import task_class

    judge: Judge = sys.modules[task_class(kind).__module__].judge_row
    return judge


def line_of(row: dict[str, Any]) -> int | None:
    """The row's line (CSV / JSONL / CoNLL) or row number (parquet, datasets) in its data file."""
    value = row.get("line", row.get("row"))
    return value if isinstance(value, int) else None


def rounded(value: Any) -> float | None:
    return round(float(value), 6) if isinstance(value, int | float) else None


# The fields of a mistake as both front ends show them (CSV / JSON keep every one; a table the ones in use)
COLUMNS = ("line", "text", "gold", "predicted", "missed", "added", "answer", "confidence", "scores")


def record(m: Mistake, *, flat: bool = True) -> dict[str, Any]:
    """A mistake as one row of values: plain text and numbers (`flat`: CSV, a table's cells), or with the
    missed and added labels as lists and the scores as an object (JSON)."""
    if not flat:
        return {"line": m.line, "text": m.text, "gold": m.gold, "predicted": m.predicted, "missed": list(m.missed),
                "added": list(m.added), "answer": m.answer, "confidence": m.confidence, "scores": dict(m.scores)}
    return {"line": m.line, "text": m.text, "gold": m.gold, "predicted": m.predicted, "missed": "; ".join(m.missed),
            "added": "; ".join(m.added), "answer": m.answer, "confidence": m.confidence,
            "scores": "  ".join(f"{n} {v:.3f}" for n, v in m.scores.items())}


def columns_in_use(mistakes: Sequence[Mistake]) -> list[str]:
    """COLUMNS less those empty in every row (no missed / added for single-label, no answer for an encoder)."""
    rows = [record(m) for m in mistakes]
    return [c for c in COLUMNS if c in ("line", "text", "gold", "predicted") or any(r[c] not in (None, "") for r in rows)]
