"""Entity-span metrics for NER (seqeval, strict IOB2: an entity counts only when its type and
both ends match), with the entities a model invents counted as false positives."""

from __future__ import annotations

from collections import Counter


def entity_report(gold: list[list[str]], pred: list[list[str]], invented: list[list[str]] | None = None
                  ) -> tuple[dict[str, dict[str, float]], dict[str, float], str]:
    """(per-type metrics, aggregates, seqeval's text report) for IOB2 tag sequences, one per sentence.

    `invented`: per sentence, the type of each predicted entity the tags cannot hold (named but not
    in the sentence). Each is a false positive of its type: seqeval scores it as a predicted span on
    a token of its own that no gold entity covers, so every figure and the text report count it.
    Per type (every type in gold or predictions): precision, recall, f1, support (gold entities),
    invented_rate (invented / predicted entities of the type; 0 when none predicted).
    Aggregates: precision/recall/f1 micro and macro, f1_weighted, examples (sentences), invented
    (count) and invented_rate (invented / all predicted entities).
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2, Entities

    invented = invented if invented is not None else [[] for _ in gold]
    if not len(gold) == len(pred) == len(invented):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted and {len(invented)} invented lists")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    gold = [g + ["O"] * len(extra) for g, extra in zip(gold, invented)]
    pred = [p + [f"B-{typ}" for typ in extra] for p, extra in zip(pred, invented)]
    agg = {k: 0.0 for k in ("precision_micro", "recall_micro", "f1_micro",
                            "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "invented_rate")}
    agg["examples"] = float(len(gold))
    invented_by_type = Counter(typ for extra in invented for typ in extra)
    agg["invented"] = float(invented_by_type.total())
    if not any(t != "O" for tags in (*gold, *pred) for t in tags):
        # seqeval cannot report on sentences without a single entity (its text report raises).
        return {}, agg, "no entities in gold or predictions\n"
    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0, "digits": 4}
    report = classification_report(gold, pred, output_dict=True, **kw)
    text = classification_report(gold, pred, **kw)
    predicted = Entities(pred, IOB2)
    per_type: dict[str, dict[str, float]] = {}
    for name, row in report.items():
        if name.endswith(" avg"):
            continue
        n_pred = len(predicted.filter(name))
        per_type[name] = {"precision": float(row["precision"]), "recall": float(row["recall"]),
                          "f1": float(row["f1-score"]), "support": float(row["support"]),
                          "invented_rate": invented_by_type[name] / n_pred if n_pred else 0.0}
    n_pred = sum(len(predicted.filter(name)) for name in per_type)
    agg["invented_rate"] = agg["invented"] / n_pred if n_pred else 0.0
    for avg in ("micro", "macro"):
        row = report[f"{avg} avg"]
        agg[f"precision_{avg}"] = float(row["precision"])
        agg[f"recall_{avg}"] = float(row["recall"])
        agg[f"f1_{avg}"] = float(row["f1-score"])
    agg["f1_weighted"] = float(report["weighted avg"]["f1-score"])
    return per_type, agg, text
