"""eval.targets judged: each target against the tuned model's aggregate of one split (which way each
metric is better: workbench/recipe/metric_names.py). The rows are the `targets` event's items and the
store's `targets` table."""

from __future__ import annotations

import math
from typing import Any

from workbench.recipe.metric_names import is_met


def judge(targets: dict[str, float], aggregates: dict[str, Any], split: str) -> list[dict[str, Any]]:
    """[{metric, split, target, value, met}] by metric name; a metric the evaluation lacks (or holds as
    no number) has value None and is not met."""
    out = []
    for metric, target in sorted(targets.items()):
        value = aggregates.get(metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            value = None
        out.append({"metric": metric, "split": split, "target": float(target),
                    "value": None if value is None else float(value),
                    "met": value is not None and is_met(metric, float(value), float(target))})
    return out
