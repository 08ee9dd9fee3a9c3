"""Multi-label sequence classification (encoders, and decoders with a score head).

Examples: CSV text + 0/1 label columns. Loss: BCE over labels. Evaluation: per-label
precision/recall/F1/accuracy/support and micro/macro/weighted/samples F1, for the base model
before training and the tuned model after, on the same rows, through one function
(`predict_logits`) that `workbench predict` also uses, so a reloaded run reproduces its
metrics exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.data.csv_labels import LabeledTable, read_labeled_csv
from workbench.data.splits import load_splits
from workbench.metrics.multilabel import bce_loss, multilabel_report
from workbench.models.load import apply_method, count_params, load_sequence_classifier
from workbench.models.source import base_path, record_base, resolve_source
from workbench.recipe.load import label_map
from workbench.train import faults
from workbench.train.context import RunContext

LABELS_FILE = "labels.json"


class EncodedTexts(torch.utils.data.Dataset):
    """Tokenised once, unpadded: the collator pads each batch to its own longest example."""

    def __init__(self, tokenizer, texts: list[str], labels: list[list[int]] | None, max_length: int):
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.input_ids = enc["input_ids"]
        self.attention_mask = enc["attention_mask"]
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i]}
        if self.labels is not None:
            item["labels"] = [float(v) for v in self.labels[i]]
        return item


def collator(tokenizer):
    from transformers import DataCollatorWithPadding

    # Multiples of 8 let tensor cores work on GPU; on CPU it only adds padding.
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)


def predict_logits(model, tokenizer, texts: list[str], *, batch_size: int, max_length: int) -> np.ndarray:
    """Logits (n x labels) in input order. Batches are formed from length-sorted texts (least
    padding); the order depends only on the texts, so results are reproducible."""
    ds = EncodedTexts(tokenizer, texts, None, max_length)
    order = sorted(range(len(ds)), key=lambda i: (len(ds.input_ids[i]), i))
    collate = collator(tokenizer)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = np.zeros((len(ds), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = {k: v.to(device) for k, v in collate([ds[i] for i in idx]).items()}
            # .cpu() is a GPU->CPU sync point, once per batch
            out[idx] = model(**batch).logits.float().cpu().numpy()
    model.train(was_training)
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def evaluate_table(model, tokenizer, table: LabeledTable, values: dict[str, Any], thresholds) -> tuple[dict, dict, np.ndarray]:
    logits = predict_logits(model, tokenizer, table.texts, batch_size=values["eval.batch_size"],
                            max_length=values["model.max_length"])
    per_label, agg = multilabel_report(table.labels, sigmoid(logits), table.label_names, thresholds)
    agg["loss"] = bce_loss(table.labels, logits)
    return per_label, agg, logits


def tune_thresholds(y_true, probs: np.ndarray, label_names: list[str]) -> list[float]:
    """Per label, the threshold (on a 0.05 grid) that maximises its F1 on these rows; ties go to
    the one nearest 0.5. A label with no positives keeps 0.5."""
    from sklearn.metrics import f1_score

    y = np.asarray(y_true, dtype=int)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    out = []
    for j in range(len(label_names)):
        if y[:, j].sum() == 0:
            out.append(0.5)
            continue
        scores = [f1_score(y[:, j], probs[:, j] >= t, zero_division=0) for t in grid]
        best = max(range(len(grid)), key=lambda i: (round(scores[i], 12), -abs(grid[i] - 0.5)))
        out.append(float(grid[best]))
    return out


def run(ctx: RunContext) -> None:
    values = ctx.recipe.values
    splits = load_splits(values)
    label_names = splits.label_names
    ctx.log(f"data: {splits.describe()}")

    path = resolve_source(values, splits.train.texts)
    loaded = load_sequence_classifier(path, label_names, seed=values["train.seed"], values=values)
    model = apply_method(loaded, values)
    trainable, total = count_params(model)
    ctx.emit("model", source=values["model.source"], resolved_path=path, method=values["model.method"],
             trainable_params=trainable, total_params=total, new_modules=loaded.new_modules,
             quantized="4bit-" + values["quant.type"] if values["quant.use_4bit"] else None)
    record_base(ctx.run_dir, values, path)
    tok = loaded.tokenizer
    thresholds = values["eval.threshold"]
    eval_tables = [("validation", splits.validation)] + ([("test", splits.test)] if splits.test else [])

    base_tables = [(split, table) for split, table in eval_tables if ctx.needs_base_eval(split)]
    if base_tables:
        ctx.phase("base eval", "evaluating the base model")
        for split, table in base_tables:
            per_label, agg, _ = evaluate_table(model, tok, table, values, thresholds)
            ctx.emit("eval", phase="base", split=split, step=0, epoch=0.0, labels=per_label, aggregates=agg)
            faults.at("base_eval")

    from workbench.train.trainer import build_trainer, save_trained, train_and_summarize

    last_report: dict[str, dict[str, float]] = {}

    def compute_metrics(pred) -> dict[str, float]:
        per_label, agg = multilabel_report(pred.label_ids, sigmoid(np.asarray(pred.predictions)), label_names, thresholds)
        last_report.clear()
        last_report.update(per_label)
        return agg

    max_len = values["model.max_length"]
    trainer = build_trainer(
        model, tok, values, ctx.run_dir, ctx.writer,
        train_dataset=EncodedTexts(tok, splits.train.texts, splits.train.labels, max_len),
        eval_dataset=EncodedTexts(tok, splits.validation.texts, splits.validation.labels, max_len),
        data_collator=collator(tok), compute_metrics=compute_metrics, per_label=lambda: dict(last_report),
        world_size=ctx.world_size)
    ctx.phase("training", "training")
    train_and_summarize(trainer, ctx)
    model = trainer.model  # the best checkpoint, reloaded by the Trainer

    if not ctx.is_main:
        return
    ctx.phase("tuned eval", "evaluating the tuned model")
    tuned_th: float | list[float] = thresholds
    for split, table in eval_tables:
        per_label, agg, logits = evaluate_table(model, tok, table, values, tuned_th)
        if split == "validation" and values["eval.tune_thresholds"]:
            # Validation is scored at eval.threshold (as the base was); the thresholds tuned on it
            # are stored per label and applied to the test split and to `workbench predict`.
            tuned_th = tune_thresholds(table.labels, sigmoid(logits), label_names)
            for name, th in zip(label_names, tuned_th):
                per_label[name]["threshold"] = th
            ctx.log("thresholds tuned on validation: " + ", ".join(f"{n} {t:.2f}" for n, t in zip(label_names, tuned_th)))
        ctx.emit("eval", phase="tuned", split=split, step=trainer.state.global_step, epoch=trainer.state.epoch,
                 labels=per_label, aggregates=agg)
        out = ctx.run_dir / f"predictions_{split}.jsonl"
        write_predictions(out, table, sigmoid(logits), tuned_th if split != "validation" else thresholds)
        ctx.emit("artifact", kind="predictions", path=str(out), split=split, rows=len(table))
        faults.at("tuned_eval")

    save_trained(ctx, model, tok, values["model.method"])
    (ctx.run_dir / LABELS_FILE).write_text(json.dumps({"labels": label_names, "threshold": tuned_th}, indent=2), "utf-8")


def write_predictions(path: Path, table: LabeledTable, probs: np.ndarray, thresholds) -> None:
    th = np.broadcast_to(np.asarray(thresholds, dtype=float), (len(table.label_names),))
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(table.texts):
            row: dict[str, Any] = {
                "line": table.lines[i],
                **({"id": table.ids[i]} if table.ids is not None else {}),
                "text": text,
                "scores": {n: round(float(p), 6) for n, p in zip(table.label_names, probs[i])},
                "predicted": [n for n, p, t in zip(table.label_names, probs[i], th) if p >= t],
            }
            if table.labels is not None:
                row["labels"] = [n for n, v in zip(table.label_names, table.labels[i]) if v]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# --- reloading a finished run (workbench predict, merge) ----------------------------------------

def base_of(run_dir: Path, values: dict[str, Any]) -> str:
    """The base model a run was trained from; a cleared tiny-model cache is rebuilt (deterministic)."""
    return base_path(run_dir, values, lambda: load_splits(values).train.texts)


def load_finished(run_dir: Path, values: dict[str, Any]):
    """(model, tokenizer, label names, thresholds) of a completed run, on CPU or the GPU if any."""
    labels_meta = json.loads((run_dir / LABELS_FILE).read_text("utf-8"))
    label_names = labels_meta["labels"]
    if values["model.method"] == "full":
        loaded = load_sequence_classifier(str(run_dir / "model"), label_names, seed=values["train.seed"])
        model = loaded.model
    else:
        from peft import PeftModel

        loaded = load_sequence_classifier(base_of(run_dir, values), label_names, seed=values["train.seed"],
                                          tokenizer_path=str(run_dir / "adapter"), values=values)
        model = PeftModel.from_pretrained(loaded.model, str(run_dir / "adapter"))
    if torch.cuda.is_available() and not values["quant.use_4bit"]:  # 4-bit weights are placed at load
        model = model.to("cuda")
    return model, loaded.tokenizer, label_names, labels_meta["threshold"]


def predict_file(run_dir: Path, values: dict[str, Any], input_csv: Path, output: Path,
                 batch_size: int | None = None) -> dict[str, Any]:
    """Predict a CSV with a finished run. Returns a summary (rows, and metrics when the CSV has labels)."""
    model, tok, label_names, thresholds = load_finished(run_dir, values)
    columns = label_map(values)
    label_columns = dict(zip(label_names, (columns[n] for n in label_names)))
    table = read_labeled_csv(input_csv, values["data.text_column"], label_columns, require_labels=False,
                             id_column=values["data.id_column"])
    logits = predict_logits(model, tok, table.texts, batch_size=batch_size or values["eval.batch_size"],
                            max_length=values["model.max_length"])
    probs = sigmoid(logits)
    write_predictions(output, table, probs, thresholds)
    summary: dict[str, Any] = {"rows": len(table), "output": str(output)}
    if table.labels is not None:
        per_label, agg = multilabel_report(table.labels, probs, label_names, thresholds)
        agg["loss"] = bce_loss(table.labels, logits)
        summary.update(labels=per_label, aggregates=agg)
    return summary
