"""Per-class metrics for single-label classes read from generated answers, and group fairness.

A decoder answers in text, so a prediction is whatever `parse_label` reads from the answer, or
None when the answer names no class. None is never silently dropped: it is a miss for the gold
class (recall), a prediction of no class (so no false positive anywhere), and it is counted.
"""

from __future__ import annotations

from collections import Counter

# Stands in for None in scikit-learn's label arrays; restricted to `labels`, it is never a class.
_UNPARSEABLE = "\x00unparseable"


def _check(gold, pred, labels: list[str]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise ValueError("no examples to score")
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise ValueError(f"gold label {unknown[0]!r} is not one of {labels}")


def class_report(gold: list[str], pred: list[str | None], labels: list[str]
                 ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(per-class metrics, aggregates) for gold labels and parsed predictions (None = unparseable).

    Per class: precision, recall, f1, support (gold count). Aggregates: accuracy, f1_macro,
    f1_micro, f1_weighted, precision_macro / micro, recall_macro / micro, unparseable (count), unparseable_rate,
    examples. Averages are over `labels` only, so an unparseable answer lowers recall but not
    precision: f1_micro equals accuracy exactly when every answer parsed.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    _check(gold, pred, labels)
    y_true = np.asarray(gold, dtype=object)
    y_pred = np.asarray([_UNPARSEABLE if p is None else p for p in pred], dtype=object)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    per_class = {
        name: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": float(s[j])}
        for j, name in enumerate(labels)
    }
    agg: dict[str, float] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for avg in ("macro", "micro", "weighted"):
        agg[f"f1_{avg}"] = float(f1_score(y_true, y_pred, labels=labels, average=avg, zero_division=0))
    for avg in ("macro", "micro"):
        ap, ar, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        agg[f"precision_{avg}"], agg[f"recall_{avg}"] = float(ap), float(ar)
    missing = sum(1 for x in pred if x is None)
    agg["unparseable"] = float(missing)
    agg["unparseable_rate"] = missing / len(pred)
    agg["examples"] = float(len(gold))
    return per_class, agg


def confusion(gold: list[str], pred: list[str | None], labels: list[str]) -> dict[str, dict[str, int]]:
    """{gold class: {predicted class: count}}, the cells that are not zero: rows and columns in
    `labels` order; an unparseable prediction (None) is counted under "(none)", after the classes.

    Sparse because the whole matrix is classes x classes: 10,000 classes made one evaluation a
    1.5 GB event line of zeros, while its non-zero cells are at most one per example."""
    order = {name: i for i, name in enumerate(labels)}
    counts = Counter(zip(gold, pred))
    out: dict[str, dict[str, int]] = {}
    for (g, p), n in sorted(counts.items(), key=lambda c: (order[c[0][0]], len(order) if c[0][1] is None
                                                             else order.get(c[0][1], len(order)))):
        out.setdefault(g, {})["(none)" if p is None else p] = n
    return out
