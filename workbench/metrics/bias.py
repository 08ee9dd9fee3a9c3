"""Per-group fairness of a classifier for one positive class (or label): error rates at the
threshold and the threshold-free bias AUCs of Borkan et al. 2019, "Nuanced Metrics for Measuring
Unintended Bias with Real Data for Text Classification" (the Jigsaw Unintended Bias metrics).

For a group g of a group column (a row may belong to several groups, and there may be several
group columns), with the *background* being every example not in g (rows of no group included,
as in the Jigsaw reference code):

- FPR: among g's negatives (gold 0), the share predicted positive; FNR: among g's positives, the
  share predicted negative. Each with its counts, its limit and a flag.
- subgroup AUC: ROC AUC on g's examples only.
- BPSN AUC (background positive, subgroup negative): background positives + g's negatives. Low
  when g's harmless rows score above other groups' harmful ones (false alarms on g).
- BNSP AUC (background negative, subgroup positive): g's positives + background negatives. Low
  when g's harmful rows score below other groups' harmless ones (misses on g).

An AUC is computed only when its examples hold at least MIN_EACH positives and MIN_EACH
negatives; otherwise it is None with a reason saying which side is short, never a number. The
final score is the competition's: 0.25 x overall AUC + 0.25 x the generalized mean (power -5)
over groups of each bias AUC, the mean going over the groups (of every group column) that have
a value. Scores are per example the model's probability of the positive class; AUCs come from
scikit-learn's roc_auc_score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MIN_EACH = 10          # positives and negatives an AUC needs (each)
POWER = -5             # the generalized mean's power: close to the minimum, so the worst groups count most
BIAS_AUCS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
UNION = "(any)"        # bias_by_class's key for "one of the positive classes" (union=True)

Groups = Mapping[str, Sequence[Sequence[str]]]  # group column -> each example's groups (empty: none)


def generalized_mean(values: Sequence[float], p: float = POWER) -> float | None:
    """M_p = (1/N sum v^p)^(1/p); None for no values. For p < 0 a value of 0 gives 0 (the limit)."""
    if not values:
        return None
    if p < 0 and any(v == 0 for v in values):
        return 0.0
    return float((sum(v ** p for v in values) / len(values)) ** (1 / p))


def _auc(gold, scores, positives: int, negatives: int, where: tuple[str, str]) -> tuple[float | None, str]:
    """(AUC, "") or (None, why): `where` names the side the positives and the negatives come from."""
    from sklearn.metrics import roc_auc_score

    short = [f"{n} {kind} in the {side}" for n, kind, side in
             ((negatives, "negatives", where[1]), (positives, "positives", where[0])) if n < MIN_EACH]
    if short:
        return None, " and ".join(short) + f" (needs {MIN_EACH})"
    return float(roc_auc_score(gold, scores)), ""


def bias_report(scores: Sequence[float], gold: Sequence[int], pred: Sequence[int], groups: Groups, *,
                max_fpr: float | None = None, max_fnr: float | None = None,
                fpr_limits: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Fairness of one positive class. scores: each example's probability of it; gold / pred: 0/1
    (pred at the threshold the model is judged at); groups: per group column, each example's groups.

    Returns {"overall_auc", "groups": [row...], "means": {metric: M_p or None}, "final_score"} plus
    "overall_reason" / "final_reason" where those are None. A row, in group-column then group order:
    group_column, group, examples, positives, negatives, false_positives, false_negatives, fpr (absent
    without negatives), fnr (absent without positives), max_fpr (fpr_limits[COLUMN:GROUP], else
    fpr_limits[GROUP], else max_fpr) and max_fnr where there is a limit, flagged (1.0 when a rate exceeds
    its limit), subgroup_auc, bpsn_auc, bnsp_auc (None when short of examples) and reasons {metric: why it is None}."""
    import numpy as np

    y = np.asarray(gold, dtype=np.int8)
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(pred, dtype=np.int8)
    if not (len(y) == len(s) == len(p)):
        raise ValueError(f"{len(s)} scores, {len(y)} gold labels and {len(p)} predictions")
    for column, per_row in groups.items():
        if len(per_row) != len(y):
            raise ValueError(f"group column {column!r} has {len(per_row)} rows for {len(y)} examples")
    pos, neg = y == 1, y == 0
    limits = dict(fpr_limits or {})
    out: dict[str, Any] = {}
    out["overall_auc"], why = _auc(y, s, int(pos.sum()), int(neg.sum()), ("data", "data"))
    if why:
        out["overall_reason"] = why
    rows: list[dict[str, Any]] = []
    for column, per_row in groups.items():
        for group in sorted({g for gs in per_row for g in gs}):
            sub = np.fromiter((group in gs for gs in per_row), dtype=bool, count=len(y))
            # a limit keyed COLUMN:GROUP is that column's group alone; a bare GROUP, the group of any column
            limit = limits.get(f"{column}:{group}", limits.get(group, max_fpr))
            rows.append(_group_row(column, group, sub, y, s, p, limit, max_fnr))
    out["groups"] = rows
    out["means"] = {m: generalized_mean([r[m] for r in rows if r[m] is not None]) for m in BIAS_AUCS}
    missing = [m for m in BIAS_AUCS if out["means"][m] is None]
    if out["overall_auc"] is None or missing:
        out["final_score"] = None
        out["final_reason"] = (f"no group has a {', '.join(missing)}" if missing
                               else f"no overall AUC: {out['overall_reason']}")
    else:
        out["final_score"] = 0.25 * out["overall_auc"] + 0.25 * sum(out["means"].values())
    return out


def _group_row(column: str, group: str, sub, y, s, p, max_fpr: float | None, max_fnr: float | None) -> dict[str, Any]:
    pos, neg = y == 1, y == 0
    sp, sn = int((sub & pos).sum()), int((sub & neg).sum())
    bp, bn = int((~sub & pos).sum()), int((~sub & neg).sum())
    fp, fn = int((sub & neg & (p == 1)).sum()), int((sub & pos & (p == 0)).sum())
    row: dict[str, Any] = {"group_column": column, "group": group, "examples": sp + sn, "positives": sp,
                           "negatives": sn, "false_positives": fp, "false_negatives": fn}
    flagged = False
    for rate, errors, total, limit in (("fpr", fp, sn, max_fpr), ("fnr", fn, sp, max_fnr)):
        if limit is not None:
            row[f"max_{rate}"] = float(limit)
        if total:  # 0/0 is not a rate (and NaN does not survive JSON)
            row[rate] = errors / total
            flagged |= limit is not None and row[rate] > limit
    row["flagged"] = 1.0 if flagged else 0.0
    reasons: dict[str, str] = {}
    sides = {"subgroup_auc": (sub, sp, sn, ("group", "group")),
             "bpsn_auc": ((sub & neg) | (~sub & pos), bp, sn, ("background", "group")),
             "bnsp_auc": ((sub & pos) | (~sub & neg), sp, bn, ("group", "background"))}
    for metric, (mask, positives, negatives, where) in sides.items():
        row[metric], why = _auc(y[mask], s[mask], positives, negatives, where)
        if why:
            reasons[metric] = why
    row["reasons"] = reasons
    return row


def bias_by_class(scores: Sequence[Sequence[float]], gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]],
                  names: Sequence[str], positive: Sequence[str], groups: Groups, *, union: bool = False,
                  **limits: Any) -> dict[str, dict[str, Any]]:
    """bias_report for each positive class / label, from examples x classes matrices: the scores
    (softmax or sigmoid probabilities), the gold labels and the predictions as 0/1 (one-hot for
    single-label, so one code path serves both). Keyed by class name, in `positive` order.

    union (single-label, several positive classes): also UNION, "one of the positive classes": score
    their probabilities' sum (P(one of them) under a softmax), gold and prediction "is one of them";
    its FPR is the per-group FPR chat classification reported before the bias report (a harmless
    message flagged as any positive class is the harm), so per-group FPR limits keep their meaning."""
    import numpy as np

    index = {n: j for j, n in enumerate(names)}
    for name in positive:
        if name not in index:
            raise ValueError(f"{name!r} is not one of the classes ({', '.join(names)})")
    s, y, p = np.asarray(scores, dtype=np.float64), np.asarray(gold), np.asarray(pred)
    out = {name: bias_report(s[:, index[name]].tolist(), y[:, index[name]].tolist(), p[:, index[name]].tolist(),
                             groups, **limits) for name in positive}
    if union and len(positive) > 1:
        cols = [index[name] for name in positive]
        out[UNION] = bias_report(s[:, cols].sum(axis=1).tolist(), y[:, cols].max(axis=1).tolist(),
                                 p[:, cols].max(axis=1).tolist(), groups, **limits)
    return out
