"""Sequence classification (encoders, and decoders with a score head), multi-label or single-label.

Examples: texts and labels from any tabular source, in three label forms (workbench/data/labeled.py).
Multi-label (0/1 columns, or a column of label lists): sigmoid and BCE; per-label
precision/recall/F1/accuracy/support and micro/macro/weighted/samples F1, at a threshold.
Single-label (a column of class names or ids): softmax and cross-entropy; accuracy, per-class
precision/recall/F1/support, macro/micro/weighted F1 and a confusion matrix. Base model before
training and tuned model after are scored on the same rows through one function
(`predict_logits`) that `workbench predict` also uses, so a reloaded run reproduces its metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from workbench import rundir
from workbench.data.encoded import MODEL_INPUTS
from workbench.data.labeled import LabeledTable, LabelSpec, read_labeled, template_fields
from workbench.data.profile import ProfileRows
from workbench.data.splits import Splits, read_splits
from workbench.errors import UserError
from workbench.metrics.classes import class_report, confusion
from workbench.metrics.multilabel import bce_loss, multilabel_report
from workbench.models.load import LoadedModel
from workbench.recipe import metric_names
from workbench.recipe.own_data import clear_item
from workbench.recipe.sections import RecipeView, view_of
from workbench.tasks.base import (
    Fail,
    ModelHead,
    Scored,
    Task,
    TrainingData,
    checked_group_columns,
    judge_fairness,
    refuse_base_system_prompt,
    write_rows,
)
from workbench.tasks.exported import CardText, InferenceCode, Serving, as_python
from workbench.tasks.mistakes import Judged, Mistake, line_of, rounded

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


class ClassificationTask:
    kind: ClassVar[str] = "classification"
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    label_word: ClassVar[str] = "label"
    metrics: ClassVar[tuple[str, ...]] = metric_names.CLASSIFIER
    result_tables: ClassVar[bool] = False
    template_knobs: ClassVar[tuple[str, ...]] = ("data.text_column", "data.labels", "eval.threshold")
    # peft has no default target modules for DistilBERT: its attention projections, named
    template_values: ClassVar[dict[str, Any]] = {
        "model.source": "tiny:distilbert", "data.train_file": "data/train.csv", "data.labels": {"positive": "positive"},
        "lora.target_modules": ["q_lin", "v_lin"]}
    # One class per row (softmax) or any number of labels (sigmoid): set by load_splits from the
    # training split, or by loading a finished run from its labels.json.
    single_label: bool = False

    def __init__(self, values: dict[str, Any]):
        self.values = values
        self.recipe = view_of(values)  # the same values, typed (workbench/recipe/sections.py)
        self.spec = LabelSpec.from_data(self.recipe.data, self.recipe.fairness.no_group_values)
        # Scores at eval.threshold until the tuned validation split tunes per-label thresholds
        # (eval.tune_thresholds); those then score the test split and `workbench predict`.
        self.thresholds: float | list[float] = self.recipe.eval.threshold
        # With eval.tune_thresholds every model gets its own, tuned alike on the validation rows
        # ({"base": [...], "tuned": [...]}), so each base-vs-tuned delta compares like with like.
        self.tuned_thresholds: dict[str, list[float]] = {}

    @staticmethod
    def default_tune_space(method: str) -> dict[str, BaseDistribution]:
        """`workbench tune`'s space when the recipe gives none (tasks/tune_space.py): the shared ranges,
        and class weights, which this task's loss reads."""
        from workbench.tasks.tune_space import shared_space

        return dict(shared_space(method, class_weights=True))

    @staticmethod
    def model_head(recipe: RecipeView) -> ModelHead:
        """A classifier over the recipe's classes or labels (2 where it names none: read from the data)."""
        return ModelHead(causal=False, num_labels=len(recipe.data.classes or recipe.data.labels or ()) or 2)

    @staticmethod
    def check_recipe(recipe: RecipeView, fail: Fail) -> None:
        refuse_base_system_prompt(recipe, fail)
        checked_group_columns(recipe, fail)
        spec = LabelSpec.from_data(recipe.data)
        if recipe.train.packing:
            raise fail("train.packing = true: task classification reads one score per example from its last "
                       "(or first) token, so its batches stay padded; packing is for the generative tasks "
                       "(chat_classification, ner). Set it to false", "train", "packing")
        if recipe.data.labels and recipe.data.label_columns:
            raise fail("give data.labels or data.label_columns, not both (clear one: "
                       f"{clear_item('data.label_columns')})", "data", "label_columns")
        if spec.columns and spec.label_column:
            key = "labels" if recipe.data.labels else "label_columns"
            raise fail(f"give data.{key} (0/1 columns) or data.label_column (one column of classes or label lists), "
                       f"not both (clear one: {clear_item('data.' + key)}, or {clear_item('data.label_column')})",
                       "data", "label_column")
        if not spec.columns and not spec.label_column:
            raise fail("data.labels is required for task classification (label name = column holding 0/1; or "
                       "data.label_columns; or data.label_column for one column of class names, ids or label lists)",
                       "data", "labels")
        for key in ("prompt_template", "instruction_template"):
            if getattr(recipe.data, key):
                raise fail(f"data.{key} is read by the generative tasks; task classification builds its text with "
                           "data.text_column or data.text_template", "data", key)
        if spec.separator and not spec.label_column:
            raise fail("data.label_separator splits the labels of data.label_column; set data.label_column",
                       "data", "label_separator")
        if spec.label_map and not spec.label_column:
            raise fail("data.label_map renames the values of data.label_column; set data.label_column", "data",
                       "label_map")
        if spec.label_values and not spec.columns:
            raise fail("data.label_values maps the words of 0/1 label columns (data.labels / data.label_columns)",
                       "data", "label_values")
        for word, v in recipe.data.label_values.items():
            if v not in (0, 1):
                raise fail(f"data.label_values.{word} = {v:g}: expected 1 or 0", "data", "label_values")
        if len(set(spec.classes)) != len(spec.classes):
            dup = next(c for c in spec.classes if spec.classes.count(c) > 1)
            raise fail(f"data.classes names {dup!r} twice", "data", "classes")
        if spec.text_template:
            try:
                text_fields = template_fields(spec.text_template)
            except ValueError as e:
                raise fail(f"data.text_template {spec.text_template!r}: {e}", "data", "text_template") from None
        else:
            text_fields = [spec.text_column]
        label_cols = list(spec.columns.values()) or [spec.label_column]
        for f in text_fields:
            if f in label_cols:
                raise fail(f"the text column {f!r} is also a label column", "data",
                           "text_template" if spec.text_template else "labels")
        for label in spec.columns:
            if not label.strip():
                raise fail("data.labels has an empty label name", "data", "labels")
        if spec.id_column and spec.id_column in label_cols:
            raise fail(f"data.id_column {spec.id_column!r} is also a label column", "data", "id_column")

    def reader(self, *, unlabelled: bool = False, train: LabeledTable | None = None) -> Callable[[str], LabeledTable]:
        max_rows = 0 if unlabelled else self.recipe.data.max_rows
        return lambda p: read_labeled(p, self.spec, train=train, max_rows=max_rows, require_labels=not unlabelled)

    def plain_texts_input(self, texts: Sequence[str], folder: Path) -> tuple[Path, dict[str, Any]]:
        """A CSV of one column, `text`, read as the text itself (no template, id or group columns)."""
        import csv

        path = folder / "texts.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text"])
            writer.writerows([t] for t in texts)
        return path, {"data.text_column": "text", "data.text_template": "", "data.id_column": "", "data.format": "csv",
                      "data.group_columns": [], "data.group_field": ""}

    def load_splits(self) -> Splits:
        data = self.recipe.data
        train, validation, test, note = read_splits(
            data, lambda source, train: read_labeled(source, self.spec, train=train, max_rows=data.max_rows),
            classes=lambda train: ([train.label_names[i] for i in train.table.column("labels").to_pylist()]
                                   if train.single_label else None))
        self.single_label = train.single_label
        if train.single_label:
            column = f"data.label_column {self.spec.label_column!r} holds one class per row"
            if self.recipe.eval.tune_thresholds:
                raise UserError(f"eval.tune_thresholds tunes a threshold per label of multi-label data; {column} "
                                "(the most probable class is predicted)", path=str(train.path))
            if self.recipe.train.best_metric == "f1_samples":
                raise UserError(f"train.best_metric = \"f1_samples\" scores multi-label rows; {column}: use f1_macro, "
                                "f1_micro (= accuracy) or f1_weighted", path=str(train.path))
        class_weights(self.recipe.train.class_weights, train)  # names checked before any model loads
        unknown = [c for c in self.recipe.fairness.positive_classes if c not in train.label_names]
        if unknown:
            word = "class" if train.single_label else "label"
            raise UserError(f"fairness.positive_classes names {unknown[0]!r}, which is not a {word} of the training "
                            f"split (expected one of {', '.join(train.label_names)})", path=str(train.path))
        balanced = 'train.class_weights = "balanced" for rare ones'
        return Splits(train, validation, test, train.label_names,
                      label_word="class" if train.single_label else "label", note=note,
                      rare_label_knobs=(balanced,) if train.single_label else (balanced, "eval.tune_thresholds = true"))

    def tokenizer_texts(self, train: LabeledTable) -> list[str]:
        return train.texts

    def profile_rows(self, records: LabeledTable, tokenizer: Any = None) -> ProfileRows:
        """The texts as the classifier reads them; per row its labels (multi-label) or its class."""
        names = records.label_names
        labels = [[names[j] for j, v in enumerate(row) if v] for row in records.labels or [[]] * len(records)]
        return ProfileRows(list(records.texts), labels)

    def load_model(self, path: str, label_names: list[str]) -> LoadedModel:
        from workbench.models.load import load_sequence_classifier

        return load_sequence_classifier(path, label_names, seed=self.recipe.train.seed, recipe=self.recipe,
                                        single_label=self.single_label)

    def eval_records(self, records: LabeledTable) -> LabeledTable:
        return records

    def training_data(self, tokenizer, splits: Splits) -> TrainingData:
        label_names, thresholds, single = splits.label_names, self.recipe.eval.threshold, self.single_label
        last_report: dict[str, dict[str, float]] = {}

        def compute_metrics(pred) -> dict[str, float]:
            logits = np.asarray(pred.predictions)
            if single:
                per_label, agg = class_report([label_names[i] for i in np.asarray(pred.label_ids)],
                                              [label_names[i] for i in logits.argmax(axis=1)], label_names)
            else:
                per_label, agg = multilabel_report(pred.label_ids, sigmoid(logits), label_names, thresholds)
            last_report.clear()
            last_report.update(per_label)
            return agg

        from workbench.data.encoded import encode

        max_len = self.recipe.model.max_length
        weights = class_weights(self.recipe.train.class_weights, splits.train)
        notes = [] if weights is None else [
            "class weights: " + ", ".join(f"{n} {w:.3g}" for n, w in zip(label_names, weights))]
        encoded = []
        for name, table in (("train", splits.train), ("validation", splits.validation)):
            ds, hit = encode(tokenizer, table, max_len)
            encoded.append(ds)
            notes.append(f"tokens of the {len(table)} {name} rows " + ("read from the cache" if hit else "cached"))
        return TrainingData(
            train_dataset=encoded[0], eval_dataset=encoded[1], data_collator=collator(tokenizer),
            compute_metrics=compute_metrics, per_label=lambda: dict(last_report),
            compute_loss=None if weights is None else weighted_loss(weights, single), notes=notes)

    def evaluate(self, model, tokenizer, records: LabeledTable, label_names: list[str], *, phase: str,
                 split: str) -> Scored:
        logits = predict_logits(model, tokenizer, records.texts, batch_size=self.recipe.eval.batch_size,
                                max_length=self.recipe.model.max_length)
        return self._scored(logits, records, label_names, phase=phase, split=split)

    def evaluate_prior(self, train: LabeledTable, records: LabeledTable, label_names: list[str], *,
                       split: str) -> Scored:
        """The constant predictor of the training labels' frequencies, scored as a model's logits are:
        single-label, the class frequencies as its softmax (the majority class predicted, the loss the
        constant's cross-entropy); multi-label, each label's frequency as its sigmoid (BCE), judged at
        the thresholds a model is (eval.threshold, or its own tuned on validation)."""
        freq = train.label_matrix().mean(axis=0, dtype=np.float64)
        logits = np.broadcast_to(prior_logits(freq, self.single_label), (len(records), len(label_names)))
        scored = self._scored(np.array(logits, dtype=np.float32), records, label_names, phase="prior", split=split)
        scored.notes.insert(0, f"label prior ({split}): the training split's {len(train)} rows, "
                               + ", ".join(f"{n} {f:.3g}" for n, f in zip(label_names, freq)))
        return scored

    def _scored(self, logits: np.ndarray, records: LabeledTable, label_names: list[str], *, phase: str,
                split: str) -> Scored:
        """One split scored from its logits, for every phase (the prior's are constants). The label
        prior gets no fairness report: a constant prediction treats every group alike."""
        kept = self.kept(len(label_names))
        fair = phase != "prior"
        if self.single_label:
            probs, per_label, agg = score_logits(records.labels, logits, label_names, 0.5, single_label=True)
            predicted = [label_names[i] for i in probs.argmax(axis=1)]
            return self._fair(Scored(per_label, agg, prediction_rows(records, probs, 0.5, **kept),
                                     extra={"confusion": confusion(gold_classes(records), predicted, label_names)}),
                              records, probs, None, fair)
        if not self.recipe.eval.tune_thresholds:
            return self._at_thresholds(records, logits, label_names, self.recipe.eval.threshold, kept, fair)
        if split != "validation":
            # Each model at its own thresholds tuned on the validation rows (0.5 where none were tuned)
            th = self.tuned_thresholds.get(phase, self.recipe.eval.threshold)
            return self._at_thresholds(records, logits, label_names, th, kept, fair)
        # Validation: scored at eval.threshold (the delta of the two models alone), and again at the
        # thresholds tuned on these very rows, which is optimistic for both models alike; named apart.
        probs, per_label, agg = score_logits(records.labels, logits, label_names, self.recipe.eval.threshold)
        th = tune_thresholds(records.labels, probs, label_names)
        self.tuned_thresholds[phase] = th
        if phase == "tuned":
            self.thresholds = th  # the test split and `workbench predict` use them
        note = (f"thresholds of {'the label prior' if phase == 'prior' else f'the {phase} model'} tuned on validation: "
                + ", ".join(f"{n} {t:.2f}" for n, t in zip(label_names, th)))
        scored = Scored(per_label, agg, prediction_rows(records, probs, self.recipe.eval.threshold, **kept), notes=[note],
                        also={AT_THRESHOLDS.format(split=split): self._at_thresholds(records, logits, label_names, th,
                                                                                     kept, fair)})
        return self._fair(scored, records, probs, self.recipe.eval.threshold, fair)

    def _at_thresholds(self, records: LabeledTable, logits: np.ndarray, label_names: list[str], th,
                       kept: dict[str, Any], fair: bool = True) -> Scored:
        """A multi-label split scored at per-label thresholds (a list: each label's among its metrics)."""
        probs, per_label, agg = score_logits(records.labels, logits, label_names, th)
        if not isinstance(th, float):
            for name, t in zip(label_names, th):
                per_label.setdefault(name, {})["threshold"] = t
        return self._fair(Scored(per_label, agg, prediction_rows(records, probs, th, **kept)), records, probs, th, fair)

    def _fair(self, scored: Scored, records: LabeledTable, probs: np.ndarray, th, fair: bool = True) -> Scored:
        """`scored` with its fairness report (tasks/base.py judge_fairness): the predictions are the
        argmax (single-label, th None) or the labels at or above their thresholds, as the split is judged."""
        if not fair or records.labels is None or not self.recipe.fairness.positive_classes:
            return scored
        if th is None:
            pred = np.zeros_like(probs, dtype=np.int8)
            pred[np.arange(len(probs)), probs.argmax(axis=1)] = 1
        else:
            pred = (probs >= np.broadcast_to(np.asarray(th, dtype=float), (probs.shape[1],))).astype(np.int8)
        judge_fairness(self.recipe, scored, probs, records.label_matrix(), pred,
                       records.label_names, records.groups, union=th is None)
        return scored

    def kept(self, labels: int) -> dict[str, Any]:
        """prediction_rows' top_k and keep for a model of `labels` labels / classes: every score up to
        eval.scores_all_up_to of them, past it the top eval.scores_top_k (a row of 10,000 scores is
        ~230 KB)."""
        many = labels > self.recipe.eval.scores_all_up_to
        return {"top_k": self.recipe.eval.scores_top_k if many else None,
                "keep": self.recipe.fairness.positive_classes}

    def labels_record(self, label_names: list[str]) -> dict[str, Any]:
        out = {"labels": label_names, "threshold": self.thresholds, "single_label": self.single_label}
        if "base" in self.tuned_thresholds:
            out["base_threshold"] = self.tuned_thresholds["base"]
        return out

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        return self._load_finished(run_dir, rundir.read_labels(run_dir), quantize=quantize, to_gpu=to_gpu)

    def _load_finished(self, run_dir: Path, meta: dict[str, Any], *, quantize: bool = True,
                       to_gpu: bool = True) -> tuple[Any, Any]:
        """load_finished with the run's labels.json already read (`meta`); sets the tuned thresholds."""
        from workbench.models.load import load_sequence_classifier, place_for_inference

        label_names = meta["labels"]
        self.thresholds = meta["threshold"]
        self.single_label = bool(meta.get("single_label", False))  # runs before single-label classes: multi-label
        if self.recipe.model.method == "full":
            loaded = load_sequence_classifier(str(run_dir / "model"), label_names, seed=self.recipe.train.seed,
                                              single_label=self.single_label)
            model = loaded.model
        else:
            from workbench.models.peft_import import peft_without_bitsandbytes
            from workbench.models.source import base_path

            base = base_path(run_dir, self.recipe, lambda: self.load_splits().train.texts)
            loaded = load_sequence_classifier(base, label_names, seed=self.recipe.train.seed,
                                              tokenizer_path=str(run_dir / "adapter"),
                                              recipe=self.recipe if quantize else None, single_label=self.single_label)
            with peft_without_bitsandbytes():  # unless the base loaded in 4 bits
                from peft import PeftModel

                model = PeftModel.from_pretrained(loaded.model, str(run_dir / "adapter"))
        if to_gpu:
            model = place_for_inference(model, quantized=quantize and self.recipe.quant.use_4bit)
        return model, loaded.tokenizer

    def predict_file(self, run_dir: Path, input_path: Path, output: Path, batch_size: int | None = None) -> dict[str, Any]:
        return self.predict_loaded(lambda: self.load_for_predict(run_dir), run_dir, input_path, output, batch_size)

    def load_for_predict(self, run_dir: Path, *, base: bool = False) -> tuple[Any, Any, Any]:
        """(model, tokenizer, thresholds) for `predict_loaded`: the run's tuned model and thresholds, or
        (`base`) the model it was trained from with its head as the run's base evaluation scored it (the
        same seed) and the base model's thresholds (tuned ones where the run tuned them)."""
        meta = rundir.read_labels(run_dir)
        if not base:
            model, tok = self._load_finished(run_dir, meta)
            return model, tok, meta["threshold"]
        from workbench.models.load import place_for_inference
        from workbench.models.source import base_path

        self.single_label = bool(meta.get("single_label", False))
        loaded = self.load_model(base_path(run_dir, self.recipe, lambda: self.load_splits().train.texts), meta["labels"])
        model = place_for_inference(loaded.model, quantized=self.recipe.quant.use_4bit)
        return model, loaded.tokenizer, meta.get("base_threshold", self.recipe.eval.threshold)

    def predict_loaded(self, load: Callable[[], tuple[Any, Any, Any]], run_dir: Path, input_path: Path, output: Path,
                       batch_size: int | None = None) -> dict[str, Any]:
        """predict_file with the model `load()` gives (called once the input has been read: bad input stops
        before any model loads); a caller that keeps a loaded model hands it back through `load`."""
        meta = rundir.read_labels(run_dir)
        single = bool(meta.get("single_label", False))
        known = LabeledTable.known(str(input_path), meta["labels"], single)
        table = self.reader(unlabelled=True, train=known)(str(input_path))  # bad input stops here, before the model
        model, tok, self.thresholds = load()
        self.single_label = single
        logits = predict_logits(model, tok, table.texts, batch_size=batch_size or self.recipe.eval.batch_size,
                                max_length=self.recipe.model.max_length)
        probs, per_label, agg = score_logits(table.labels, logits, meta["labels"], self.thresholds, single_label=single)
        write_rows(output, prediction_rows(table, probs, self.thresholds, **self.kept(len(meta["labels"]))))
        summary: dict[str, Any] = {"rows": len(table), "output": str(output)}
        if table.labels is not None:
            summary.update(labels=per_label, aggregates=agg)
        return summary

    def plain_result(self, row: dict[str, Any]) -> list[str]:
        """Single-label: the class predicted; multi-label: the labels at or over their thresholds (or none);
        then the highest scores."""
        from workbench.tasks.plain_texts import top_scores

        predicted = row.get("predicted")
        if isinstance(predicted, list):
            first = f"labels: {', '.join(map(str, predicted))}" if predicted else "labels: none over the threshold"
        else:
            first = f"class: {predicted}"
        return [first, f"scores: {top_scores(row.get('scores'))}"]

    # --- a finished run exported (workbench export; workbench/tasks/exported.py) ------------------
    def export_labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Whether one class per text (softmax, argmax) or any number of labels (sigmoid, a threshold
        per label: the run's tuned ones where it tuned them, which `workbench predict` uses)."""
        single = bool(meta.get("single_label", False))
        out: dict[str, Any] = {"single_label": single}
        if single:
            out["decision"] = "softmax over the classes; the most probable class is predicted"
        else:
            names = list(meta["labels"])
            th = meta.get("threshold", 0.5)
            per_label = [float(th)] * len(names) if isinstance(th, int | float) else [float(t) for t in th]
            out["thresholds"] = dict(zip(names, per_label))
            out["thresholds_tuned"] = not isinstance(th, int | float)
            out["decision"] = "sigmoid per label; a label is predicted when its score is at or above its threshold"
        return out

    def card_text(self, labels: dict[str, Any]) -> CardText:
        template = self.recipe.data.text_template
        text = f"template `{template}`" if template else f"column `{self.recipe.data.text_column}`"
        return CardText(
            label_word=self.label_word, labels_file="`labels.json`: label names in output order, thresholds",
            data=[f"- text: {text}"],
            with_adapter=["- the new classification head is trained in full and saved with the adapter"],
            knobs=(), labels_section=["## Thresholds", "", *_threshold_lines(labels)],
            notes=[f"The run built each text from a table row with `{template}`: give the model texts built so."]
            if template else [])

    def inference_code(self, labels: dict[str, Any], folder: str) -> InferenceCode:
        single = labels["single_label"]
        constants = [f"LABELS = {as_python(labels['labels'])}"]
        if not single:
            constants.append(f"THRESHOLDS = {as_python(list(labels['thresholds'].values()))}  # per label, from labels.json")
        constants.append(f"MAX_LENGTH = {self.recipe.model.max_length}")
        problem = "single_label_classification" if single else "multi_label_classification"
        predicted = "the class predicted" if single else "[labels predicted]"
        return InferenceCode(
            model_class="AutoModelForSequenceClassification", stdlib=(), constants=constants, tokenizer_note="",
            load_adapter=["model = AutoModelForSequenceClassification.from_pretrained(",
                          f"    BASE, num_labels=len(LABELS), problem_type={as_python(problem)},",
                          "    id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)})",
                          "if model.config.pad_token_id is None:",
                          "    model.config.pad_token_id = tokenizer.pad_token_id",
                          "# transformers reports the head as newly initialised: the adapter brings the trained one",
                          f"model = PeftModel.from_pretrained(model, {folder})  # the LoRA weights and the trained head"],
            verb="predict",
            functions=CLASSIFY.replace("PREDICTED", predicted).strip("\n") + "\n"
            + (SINGLE_LABEL if single else MULTI_LABEL).strip("\n"),
            example=[f"print(predict(model, tokenizer, [{as_python(EXAMPLE_TEXT)}]))"],
            serving=Serving(
                item="a text", one_item="isinstance(inputs, str)", check=CHECK_TEXT,
                predict=PREDICT_FN.replace("PREDICTED", predicted),
                settings=(SINGLE_LABEL_SETTINGS if single else MULTI_LABEL_SETTINGS).replace("MAX_LENGTH_SETTING",
                                                                                           MAX_LENGTH_SETTING),
                environment="MAX_LENGTH (the tokens a text is truncated to; the run's model.max_length)" + (
                    "" if single else ", MULTILABEL_THRESHOLD (one threshold from 0 to 1 for every label, replacing "
                    "the run's per-label THRESHOLDS)"),
                request='`{"inputs": "a text"}` or `{"inputs": ["a text", "another"]}`',
                answer='{"scores": {"class": probability, ...}, "predicted": "the most probable class"}' if single
                else '{"scores": {"label": score, ...}, "predicted": ["each label at or above its threshold", ...]}',
                as_run="thresholds"))


# The split name of the validation rows scored again at thresholds tuned on them (eval.tune_thresholds).
AT_THRESHOLDS = "{split}_at_thresholds"


# --- encoding, scoring ---------------------------------------------------------------------------

class EncodedTexts:
    """Tokenised once, unpadded: the collator pads each batch to its own longest example. A map-style
    dataset (torch's DataLoader needs only __len__ and __getitem__), so this module imports no torch."""

    def __init__(self, tokenizer, texts: list[str], labels: list[list[int]] | None, max_length: int,
                 single_label: bool = False):
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.input_ids = enc["input_ids"]
        self.attention_mask = enc["attention_mask"]
        self.labels = labels
        self.single_label = single_label

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i]}
        if self.labels is not None:
            row = self.labels[i]
            # cross-entropy takes the class index; BCE a 0/1 float per label
            item["labels"] = row.index(1) if self.single_label else [float(v) for v in row]
        return item


def collator(tokenizer):
    """Pads each batch to its own longest example; keeps only the model's inputs (a tokenized split
    also carries each row's length, for length-grouped batches)."""
    import torch
    from transformers import DataCollatorWithPadding

    # Multiples of 8 let tensor cores work on GPU; on CPU it only adds padding.
    pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)

    def collate(features: list[dict[str, Any]]):
        return pad([{k: v for k, v in f.items() if k in MODEL_INPUTS} for f in features])

    return collate


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


# A label or class the training split never holds gets this score, not 0 (an infinite loss).
PRIOR_FLOOR = 1e-6


def prior_logits(freq: np.ndarray, single_label: bool) -> np.ndarray:
    """Logits whose softmax (single-label) or sigmoid (multi-label) are these frequencies."""
    p = np.clip(freq, PRIOR_FLOOR, 1 - PRIOR_FLOOR)
    return np.log(p) if single_label else np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def gold_classes(table: LabeledTable) -> list[str]:
    """Single-label rows' class names (their labels are one-hot)."""
    assert table.labels is not None
    return [table.label_names[row.index(1)] for row in table.labels]


def score_logits(labels, logits: np.ndarray, label_names: list[str], thresholds, *, single_label: bool = False
                 ) -> tuple[np.ndarray, dict, dict]:
    """(probabilities, per-label report, aggregates with the loss the head trains on: BCE, or
    cross-entropy for single-label); the reports are empty when `labels` is None (predict input
    without labels)."""
    probs = softmax(logits) if single_label else sigmoid(logits)
    if labels is None:
        return probs, {}, {}
    if single_label:
        gold = np.asarray(labels).argmax(axis=1)
        per_label, agg = class_report([label_names[i] for i in gold], [label_names[i] for i in probs.argmax(axis=1)],
                                      label_names)
        for key in ("unparseable", "unparseable_rate"):  # a classifier head always names a class
            agg.pop(key)
        agg["loss"] = float(-np.log(np.clip(probs[np.arange(len(gold)), gold], 1e-12, None)).mean())
        return probs, per_label, agg
    per_label, agg = multilabel_report(labels, probs, label_names, thresholds)
    agg["loss"] = bce_loss(labels, logits)
    return probs, per_label, agg


def class_weights(setting: dict[str, float] | str, train: LabeledTable) -> list[float] | None:
    """Per-label loss weights from train.class_weights, in label order; None for unweighted.

    "balanced": single-label, n / (classes x count) per class (scikit-learn's rule); multi-label,
    negatives / positives per label (BCE's pos_weight). A table gives them by name (others 1.0)."""
    names = train.label_names
    if not setting:
        return None
    if isinstance(setting, dict):
        unknown = [k for k in setting if k not in names]
        if unknown:
            raise UserError(f"train.class_weights names {unknown[0]!r}, which is not a "
                            f"{'class' if train.single_label else 'label'} (expected one of {', '.join(names)})")
        return [float(setting.get(n, 1.0)) for n in names]
    y = train.label_matrix()
    counts = y.sum(axis=0, dtype=np.int64).astype(float)
    if train.single_label:
        return [float(len(y) / (len(names) * c)) if c else 1.0 for c in counts]
    return [float((len(y) - c) / c) if c else 1.0 for c in counts]


def weighted_loss(weights: list[float], single_label: bool):
    """A Trainer compute_loss_func: cross-entropy with per-class weights, or BCE with pos_weight."""
    def loss(outputs, labels, num_items_in_batch=None):
        import torch

        logits = outputs["logits"]
        w = torch.as_tensor(weights, dtype=torch.float32, device=logits.device)
        if single_label:
            return torch.nn.functional.cross_entropy(logits.float(), labels, weight=w)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=w)

    return loss


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


def prediction_rows(table: LabeledTable, probs: np.ndarray, thresholds, *, top_k: int | None = None,
                    keep: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per example: where it came from, its text, its scores and what was predicted: the
    labels at or above their threshold, or for single-label the most probable class (and the gold
    labels / class when the input has them).

    Scores: every label's, in label order; with `top_k` (the model has more labels than
    eval.scores_all_up_to) the row's `top_k` highest, then its gold and predicted labels' and those
    named in `keep`, highest first, and "scores_top_k": top_k says the row holds only those."""
    names = table.label_names
    th = np.broadcast_to(np.asarray(thresholds, dtype=float), (len(names),))
    single = table.single_label
    top = probs.argmax(axis=1)
    kept = None
    if top_k is not None:
        k = min(top_k, len(names))
        kept = np.argpartition(-probs, k - 1, axis=1)[:, :k]
        wanted = set(keep)
        always = [j for j, n in enumerate(names) if n in wanted]
    groups = table.groups  # data.group_columns: each row's groups per column, for fairness checked by hand
    rows = []
    for i, text in enumerate(table.texts):
        row: dict[str, Any] = {
            table.unit: table.lines[i],
            **({"id": table.ids[i]} if table.ids is not None else {}),
            "text": text,
        }
        if groups:
            row["groups"] = {column: list(per_row[i]) for column, per_row in groups.items()}
        gold = None if table.labels is None else [j for j, v in enumerate(table.labels[i]) if v]
        predicted = [int(top[i])] if single else np.flatnonzero(probs[i] >= th).tolist()
        if kept is None:
            row["scores"] = {n: round(float(p), 6) for n, p in zip(names, probs[i])}
        else:
            shown = {*kept[i].tolist(), *(gold or ()), *predicted, *always}
            row["scores"] = {names[j]: round(float(probs[i, j]), 6) for j in sorted(shown, key=lambda j: -probs[i, j])}
            row["scores_top_k"] = top_k
        if single:
            row["predicted"] = names[predicted[0]]
            if gold is not None:
                row["label"] = names[gold[0]]
        else:
            row["predicted"] = [names[j] for j in predicted]
            if gold is not None:
                row["labels"] = [names[j] for j in gold]
        rows.append(row)
    return rows


def _threshold_lines(labels: dict[str, Any]) -> list[str]:
    """The model card's words on how labels are decided (`labels`: the export's labels.json)."""
    if labels["single_label"]:
        return ["One class per text: softmax over the classes, the most probable one is predicted (no thresholds).",
                "", "Classes in the model's output order: " + ", ".join(f"`{n}`" for n in labels["labels"]), ""]
    how = ("tuned per label on the validation split (eval.tune_thresholds)" if labels["thresholds_tuned"]
           else "the recipe's eval.threshold")
    lines = [f"Multi-label: a sigmoid per label; a label is predicted when its score is at or above its threshold, "
             f"{how}. These are the thresholds `workbench predict` uses (also in labels.json).", "",
             "| label | threshold |", "|---|---|"]
    lines += [f"| {n} | {t:g} |" for n, t in labels["thresholds"].items()]
    return lines + [""]


# --- the export's stand-alone code (workbench/tasks/exported.py): predict_logits and score_logits'
# decision, in plain torch and transformers

EXAMPLE_TEXT = "An example text to classify."

CLASSIFY = '''
def predict(model, tokenizer, texts, batch_size=32):
    """Per text: ({label: score}, PREDICTED)."""
    results = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                          max_length=MAX_LENGTH, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            logits = model(**batch).logits.float()
'''
SINGLE_LABEL = '''
        for row in torch.softmax(logits, dim=-1).tolist():
            results.append((dict(zip(LABELS, row)), LABELS[row.index(max(row))]))
    return results
'''
MULTI_LABEL = '''
        for row in torch.sigmoid(logits).tolist():
            predicted = [name for name, score, t in zip(LABELS, row, THRESHOLDS) if score >= t]
            results.append((dict(zip(LABELS, row)), predicted))
    return results
'''

# SageMaker's inference.py: one input is a text
CHECK_TEXT = '''
def check_item(item, i, key="inputs"):
    if not isinstance(item, str):
        raise ValueError(f"{key}[{i}]: expected a text, got {type(item).__name__}")
    return item
'''
# SageMaker's inference.py: the environment's MAX_LENGTH (and MULTILABEL_THRESHOLD) over the run's
MAX_LENGTH_SETTING = '''
    global MAX_LENGTH
    max_length = setting(environ, "MAX_LENGTH", int, "a whole number of tokens, at least 1", lambda v: v >= 1)
    if max_length is not None:
        MAX_LENGTH = max_length
'''.strip("\n")
SINGLE_LABEL_SETTINGS = '''
def apply_settings(environ):
    """MAX_LENGTH from the environment; MULTILABEL_THRESHOLD refused (one class per text: the most probable)."""
    unused(environ, "MULTILABEL_THRESHOLD", "this model is single-label (one class per text: the most probable)")
MAX_LENGTH_SETTING
'''
MULTI_LABEL_SETTINGS = '''
def apply_settings(environ):
    """MAX_LENGTH and MULTILABEL_THRESHOLD (one threshold for every label, replacing the run's) from the environment."""
    global THRESHOLDS
    threshold = setting(environ, "MULTILABEL_THRESHOLD", float, "a number from 0 to 1", lambda v: 0 <= v <= 1)
    if threshold is not None:
        THRESHOLDS = [threshold] * len(LABELS)
MAX_LENGTH_SETTING
'''
PREDICT_FN = '''
def predict_fn(data, model):
    """Per text: {"scores": {label: score}, "predicted": PREDICTED}, as `workbench predict` answers."""
    model, tokenizer = model
    return [{"scores": scores, "predicted": predicted} for scores, predicted in predict(model, tokenizer, data)]
'''

TASK: type[Task] = ClassificationTask


def judge_row(row: dict[str, Any]) -> Judged:
    """A prediction row of prediction_rows judged (`workbench errors`, workbench/tasks/mistakes.py).
    Single-label: wrong when the predicted class is not the gold one; confidence the predicted class's
    score. Multi-label: wrong when the predicted labels are not the gold ones; confidence the highest of
    an added label's score and 1 - a missed label's score."""
    scores = {str(k): float(v) for k, v in (row.get("scores") or {}).items()}
    text = str(row.get("text", ""))
    if "label" in row or isinstance(row.get("predicted"), str):  # single-label
        gold, predicted = str(row.get("label", "")), str(row.get("predicted", ""))
        labels = frozenset({gold, predicted, *scores} - {""})
        if not gold or gold == predicted:
            return Judged(None, labels)
        return Judged(Mistake(line_of(row), text, gold, predicted, rounded(scores.get(predicted)),
                              {n: scores[n] for n in (predicted, gold) if n in scores},
                              about=(gold, predicted), cell=(gold, predicted)), labels)
    gold_set, predicted_list = row.get("labels"), list(row.get("predicted") or [])
    labels = frozenset({*(gold_set or ()), *predicted_list, *scores})
    if gold_set is None or set(gold_set) == set(predicted_list):
        return Judged(None, labels)
    missed = tuple(n for n in gold_set if n not in predicted_list)
    added = tuple(n for n in predicted_list if n not in gold_set)
    sure = [scores[n] for n in added if n in scores] + [1 - scores[n] for n in missed if n in scores]
    return Judged(Mistake(line_of(row), text, ", ".join(gold_set), ", ".join(predicted_list),
                          rounded(max(sure)) if sure else None, {n: scores[n] for n in (*missed, *added) if n in scores},
                          missed=missed, added=added, about=(*missed, *added)), labels)
