"""Entity-span metrics for NER (seqeval, strict IOB2: an entity counts only when its type and
both ends match)."""

from __future__ import annotations


def entity_report(gold: list[list[str]], pred: list[list[str]]
                  ) -> tuple[dict[str, dict[str, float]], dict[str, float], str]:
    """(per-type metrics, aggregates, seqeval's text report) for IOB2 tag sequences, one per sentence.

    Per type (every type in gold or predictions): precision, recall, f1, support (gold entities).
    Aggregates: precision/recall/f1 micro and macro, f1_weighted, examples (sentences).
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    agg = {k: 0.0 for k in ("precision_micro", "recall_micro", "f1_micro",
                            "precision_macro", "recall_macro", "f1_macro", "f1_weighted")}
    agg["examples"] = float(len(gold))
    if not any(t != "O" for tags in (*gold, *pred) for t in tags):
        # seqeval cannot report on sentences without a single entity (its text report raises).
        return {}, agg, "no entities in gold or predictions\n"
    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0, "digits": 4}
    report = classification_report(gold, pred, output_dict=True, **kw)
    text = classification_report(gold, pred, **kw)
    per_type: dict[str, dict[str, float]] = {}
    for name, row in report.items():
        if name.endswith(" avg"):
            continue
        per_type[name] = {"precision": float(row["precision"]), "recall": float(row["recall"]),
                          "f1": float(row["f1-score"]), "support": float(row["support"])}
    for avg in ("micro", "macro"):
        row = report[f"{avg} avg"]
        agg[f"precision_{avg}"] = float(row["precision"])
        agg[f"recall_{avg}"] = float(row["recall"])
        agg[f"f1_{avg}"] = float(row["f1-score"])
    agg["f1_weighted"] = float(report["weighted avg"]["f1-score"])
    return per_type, agg, text
