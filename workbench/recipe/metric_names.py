"""The aggregate metrics an evaluation can report, and which way each is better: written once, below
the recipe's check of eval.targets, the trainer's judge of them (workbench/metrics/targets.py) and the
store's views (workbench/store/schema.py). Each task names the families its evaluation reports
(`metrics` on its class, workbench/tasks/); no module here knows a task by name."""

from __future__ import annotations

# Lower is better (everything else: higher is better; NEUTRAL_METRICS: neither).
LOWER_IS_BETTER = ("loss", "hamming_loss", "unparseable", "unparseable_rate", "malformed", "malformed_rate",
                   "invented", "invented_rate", "invented_unknown_type", "groups_flagged", "fpr", "fnr")
NEUTRAL_METRICS = ("support", "examples")

_AVERAGED = ("precision_micro", "recall_micro", "f1_micro", "precision_macro", "recall_macro", "f1_macro",
             "f1_weighted")
# A classifier head's (workbench/metrics/multilabel.py, classes.py; the loss its head trains on;
# groups_flagged with fairness)
CLASSIFIER = (*_AVERAGED, "accuracy", "f1_samples", "exact_match", "hamming_loss", "loss", "groups_flagged",
              "examples")
# Classes read from generated answers (workbench/metrics/classes.py; groups_flagged with fairness)
ANSWERED_CLASSES = (*_AVERAGED, "accuracy", "unparseable", "unparseable_rate", "groups_flagged", "examples")
# Entities read from generated answers, scored by seqeval (workbench/metrics/entities.py, tasks/ner.py)
ENTITIES = (*_AVERAGED, "invented", "invented_rate", "invented_unknown_type", "malformed", "malformed_rate",
            "examples")


def is_met(metric: str, value: float, target: float) -> bool:
    """A target is met at or below it for a lower-is-better metric, at or above it for the others."""
    return value <= target if metric in LOWER_IS_BETTER else value >= target
