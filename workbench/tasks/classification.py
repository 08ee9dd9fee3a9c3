"""Multi-label sequence classification (encoders, and decoders with a score head).

Examples: CSV text + 0/1 label columns. Loss: BCE over labels. Evaluation: per-label
precision/recall/F1/accuracy/support and micro/macro/weighted/samples F1, for the base model
before training and the tuned model after, on the same rows, through one function
(`predict_logits`) that `workbench predict` also uses, so a reloaded run reproduces its
metrics exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workbench import rundir
from workbench.data.csv_labels import LabeledTable, read_labeled_csv
from workbench.data.splits import Splits, read_splits
from workbench.metrics.multilabel import bce_loss, multilabel_report
from workbench.models.load import LoadedModel
from workbench.tasks.base import Fail, Scored, TrainingData, write_rows


def label_map(values: dict[str, Any]) -> dict[str, str]:
    """Label name -> CSV column, from data.labels or data.label_columns."""
    return dict(values["data.labels"]) or {c: c for c in values["data.label_columns"]}


class ClassificationTask:
    kind = "classification"
    peft_task_type = "SEQ_CLS"

    def __init__(self, values: dict[str, Any]):
        self.values = values
        # Scores at eval.threshold until the tuned validation split tunes per-label thresholds
        # (eval.tune_thresholds); those then score the test split and `workbench predict`.
        self.thresholds: float | list[float] = values["eval.threshold"]

    @staticmethod
    def check_recipe(values: dict[str, Any], fail: Fail) -> None:
        if values["data.labels"] and values["data.label_columns"]:
            raise fail("give data.labels or data.label_columns, not both", "data", "label_columns")
        labels = label_map(values)
        if not labels:
            raise fail("data.labels is required for task classification (label name = CSV column holding 0/1; "
                       "or data.label_columns)", "data", "labels")
        if values["data.text_column"] in labels.values():
            raise fail(f"data.labels maps a label to the text column {values['data.text_column']!r}", "data", "labels")
        for label in labels:
            if not label.strip():
                raise fail("data.labels has an empty label name", "data", "labels")
        if values["data.id_column"] and values["data.id_column"] in labels.values():
            raise fail(f"data.id_column {values['data.id_column']!r} is also a label column", "data", "id_column")

    def reader(self, *, unlabelled: bool = False) -> Callable[[str], LabeledTable]:
        values, labels = self.values, label_map(self.values)
        max_rows = 0 if unlabelled else values["data.max_rows"]
        return lambda p: read_labeled_csv(p, values["data.text_column"], labels, max_rows=max_rows,
                                          id_column=values["data.id_column"], require_labels=not unlabelled)

    def load_splits(self) -> Splits:
        train, validation, test = read_splits(self.values, self.reader())
        return Splits(train, validation, test, train.label_names)

    def tokenizer_texts(self, train: LabeledTable) -> list[str]:
        return train.texts

    def load_model(self, path: str, label_names: list[str]) -> LoadedModel:
        from workbench.models.load import load_sequence_classifier

        return load_sequence_classifier(path, label_names, seed=self.values["train.seed"], values=self.values)

    def eval_records(self, records: LabeledTable) -> LabeledTable:
        return records

    def training_data(self, tokenizer, splits: Splits) -> TrainingData:
        label_names, thresholds = splits.label_names, self.values["eval.threshold"]
        last_report: dict[str, dict[str, float]] = {}

        def compute_metrics(pred) -> dict[str, float]:
            per_label, agg = multilabel_report(pred.label_ids, sigmoid(np.asarray(pred.predictions)), label_names,
                                               thresholds)
            last_report.clear()
            last_report.update(per_label)
            return agg

        max_len = self.values["model.max_length"]
        return TrainingData(
            train_dataset=EncodedTexts(tokenizer, splits.train.texts, splits.train.labels, max_len),
            eval_dataset=EncodedTexts(tokenizer, splits.validation.texts, splits.validation.labels, max_len),
            data_collator=collator(tokenizer), compute_metrics=compute_metrics, per_label=lambda: dict(last_report))

    def evaluate(self, model, tokenizer, records: LabeledTable, label_names: list[str], *, phase: str,
                 split: str) -> Scored:
        values = self.values
        thresholds = values["eval.threshold"] if phase == "base" else self.thresholds
        logits = predict_logits(model, tokenizer, records.texts, batch_size=values["eval.batch_size"],
                                max_length=values["model.max_length"])
        probs, per_label, agg = score_logits(records.labels, logits, label_names, thresholds)
        notes = []
        if phase == "tuned" and split == "validation" and values["eval.tune_thresholds"]:
            # Validation is scored at eval.threshold (as the base was); the thresholds tuned on it
            # are stored per label and applied to the test split and to `workbench predict`.
            self.thresholds = tune_thresholds(records.labels, probs, label_names)
            for name, th in zip(label_names, self.thresholds):
                per_label[name]["threshold"] = th
            notes.append("thresholds tuned on validation: "
                         + ", ".join(f"{n} {t:.2f}" for n, t in zip(label_names, self.thresholds)))
        return Scored(per_label, agg, prediction_rows(records, probs, thresholds), notes=notes)

    def labels_record(self, label_names: list[str]) -> dict[str, Any]:
        return {"labels": label_names, "threshold": self.thresholds}

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        return self._load_finished(run_dir, rundir.read_labels(run_dir), quantize=quantize, to_gpu=to_gpu)

    def _load_finished(self, run_dir: Path, meta: dict[str, Any], *, quantize: bool = True,
                       to_gpu: bool = True) -> tuple[Any, Any]:
        """load_finished with the run's labels.json already read (`meta`); sets the tuned thresholds."""
        from workbench.models.load import load_sequence_classifier, place_for_inference

        values = self.values
        label_names = meta["labels"]
        self.thresholds = meta["threshold"]
        if values["model.method"] == "full":
            loaded = load_sequence_classifier(str(run_dir / "model"), label_names, seed=values["train.seed"])
            model = loaded.model
        else:
            from peft import PeftModel

            from workbench.models.source import base_path

            base = base_path(run_dir, values, lambda: self.load_splits().train.texts)
            loaded = load_sequence_classifier(base, label_names, seed=values["train.seed"],
                                              tokenizer_path=str(run_dir / "adapter"),
                                              values=values if quantize else None)
            model = PeftModel.from_pretrained(loaded.model, str(run_dir / "adapter"))
        if to_gpu:
            model = place_for_inference(model, quantized=quantize and values["quant.use_4bit"])
        return model, loaded.tokenizer

    def predict_file(self, run_dir: Path, input_path: Path, output: Path, batch_size: int | None = None) -> dict[str, Any]:
        table = self.reader(unlabelled=True)(str(input_path))  # bad input stops here, before the model loads
        meta = rundir.read_labels(run_dir)
        model, tok = self._load_finished(run_dir, meta)
        logits = predict_logits(model, tok, table.texts, batch_size=batch_size or self.values["eval.batch_size"],
                                max_length=self.values["model.max_length"])
        probs, per_label, agg = score_logits(table.labels, logits, meta["labels"], self.thresholds)
        write_rows(output, prediction_rows(table, probs, self.thresholds))
        summary: dict[str, Any] = {"rows": len(table), "output": str(output)}
        if table.labels is not None:
            summary.update(labels=per_label, aggregates=agg)
        return summary


# --- encoding, scoring ---------------------------------------------------------------------------

class EncodedTexts:
    """Tokenised once, unpadded: the collator pads each batch to its own longest example. A map-style
    dataset (torch's DataLoader needs only __len__ and __getitem__), so this module imports no torch."""

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
    import torch
    from transformers import DataCollatorWithPadding

    # Multiples of 8 let tensor cores work on GPU; on CPU it only adds padding.
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)


def predict_logits(model, tokenizer, texts: list[str], *, batch_size: int, max_length: int) -> np.ndarray:
    """Logits (n x labels) in input order. Batches are formed from length-sorted texts (least
    padding); the order depends only on the texts, so results are reproducible."""
    import torch

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


def score_logits(labels, logits: np.ndarray, label_names: list[str], thresholds) -> tuple[np.ndarray, dict, dict]:
    """(probabilities, per-label report, aggregates with the BCE loss); the reports are empty when
    `labels` is None (predict input without label columns)."""
    probs = sigmoid(logits)
    if labels is None:
        return probs, {}, {}
    per_label, agg = multilabel_report(labels, probs, label_names, thresholds)
    agg["loss"] = bce_loss(labels, logits)
    return probs, per_label, agg


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


def prediction_rows(table: LabeledTable, probs: np.ndarray, thresholds) -> list[dict[str, Any]]:
    th = np.broadcast_to(np.asarray(thresholds, dtype=float), (len(table.label_names),))
    rows = []
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
        rows.append(row)
    return rows
