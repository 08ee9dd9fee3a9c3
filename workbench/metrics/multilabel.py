"""Per-label and aggregate metrics for multi-label classification (scikit-learn)."""

from __future__ import annotations

from typing import Any


def multilabel_report(y_true, y_prob, label_names: list[str], threshold: float | list[float] = 0.5
                      ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(per-label metrics, aggregates) for 0/1 targets and predicted probabilities.

    Per label: precision, recall, f1, accuracy, support (positives).
    Aggregates: f1/precision/recall micro and macro, f1 weighted and samples, exact_match
    (subset accuracy), hamming_loss, examples.
    """
    import numpy as np

    y_true = np.asarray(y_true, dtype=int)
    y_pred = (np.asarray(y_prob) >= np.asarray(threshold)).astype(int)
    if y_true.shape[1] == 1:
        # scikit-learn reads a one-column indicator matrix as binary 0/1 classes, not as one label:
        # pad a constant all-zero column so it stays multi-label, then drop it from the results.
        y_true = np.hstack([y_true, np.zeros_like(y_true)])
        y_pred = np.hstack([y_pred, np.zeros_like(y_pred)])
        per_label, agg = _report(y_true, y_pred, [*label_names, ""])
        per_label.pop("")
        return per_label, agg
    return _report(y_true, y_pred, label_names)


def _report(y_true, y_pred, label_names: list[str]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

    single = label_names[-1] == ""  # the padded one-label case: averages over the real label only
    real = [0] if single else list(range(len(label_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    per_label: dict[str, dict[str, float]] = {}
    for j, name in enumerate(label_names):
        per_label[name] = {
            "precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]),
            "accuracy": float((y_true[:, j] == y_pred[:, j]).mean()), "support": float(s[j]),
        }
    agg: dict[str, float] = {}
    for avg in ("micro", "macro"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, average=avg, labels=real, zero_division=0)
        agg[f"precision_{avg}"], agg[f"recall_{avg}"], agg[f"f1_{avg}"] = float(ap), float(ar), float(af)
    agg["f1_weighted"] = float(f1_score(y_true, y_pred, average="weighted", labels=real, zero_division=0))
    # A row with no true and no predicted label is a perfect answer (zero_division=1), not 0.
    agg["f1_samples"] = float(f1_score(y_true, y_pred, average="samples", zero_division=1.0))
    agg["exact_match"] = float(accuracy_score(y_true, y_pred))
    agg["hamming_loss"] = float(hamming_loss(y_true[:, real], y_pred[:, real]))
    agg["accuracy"] = 1.0 - agg["hamming_loss"]  # label-wise; with one label, plain accuracy
    agg["examples"] = float(len(y_true))
    return per_label, agg


def bce_loss(y_true, logits) -> float:
    """Mean binary cross-entropy from logits (the training loss of multi-label heads)."""
    import torch

    return float(torch.nn.functional.binary_cross_entropy_with_logits(
        torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(y_true, dtype=torch.float32)))


def as_rows(per_label: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [{"label": k, **v} for k, v in per_label.items()]
