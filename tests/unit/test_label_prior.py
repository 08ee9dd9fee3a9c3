"""The label-prior baseline (phase `prior`): a constant predictor read off the training split's
labels, scored on the evaluation rows through the task's own metric code. Real CSV / JSONL files,
real tasks; the figures checked against scikit-learn and by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss

from workbench.recipe import recipe_from_dict
from workbench.tasks import get_task


def _csv(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n", encoding="utf-8")
    return str(path)


def _multilabel(tmp_path, **eval_knobs):
    # training: a in 1 of 4 rows, b in 2 of 4 (plus 4 more rows for each pattern: 16 rows)
    train = [(f"t{i}", int(i % 4 == 0), int(i % 2 == 0)) for i in range(16)]
    val = [("v0", 1, 0), ("v1", 0, 1), ("v2", 1, 1), ("v3", 0, 0), ("v4", 0, 1)]
    raw = {"task": "classification", "model": {"source": "tiny:distilbert"},
           "data": {"train_file": _csv(tmp_path / "train.csv", ["text", "a", "b"], train),
                    "validation_file": _csv(tmp_path / "val.csv", ["text", "a", "b"], val),
                    "text_column": "text", "labels": {"a": "a", "b": "b"}},
           "eval": {"threshold": 0.5, **eval_knobs}}
    task = get_task(recipe_from_dict(raw).values)
    return task, task.load_splits(), np.array([[a, b] for _, a, b in val])


def test_multilabel_prior_scores_each_label_at_its_training_frequency(tmp_path):
    task, splits, y = _multilabel(tmp_path)
    scored = task.evaluate_prior(splits.train, splits.validation, splits.label_names, split="validation")
    assert all(r["scores"] == {"a": 0.25, "b": 0.5} for r in scored.rows)
    # BCE of the constant predictor, label by label, averaged over every cell (the head's loss)
    p = np.broadcast_to([0.25, 0.5], y.shape)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert scored.aggregates["loss"] == pytest.approx(bce, rel=1e-6)
    # judged at eval.threshold 0.5: b (0.5) is predicted for every row, a (0.25) never
    assert all(r["predicted"] == ["b"] for r in scored.rows)
    assert scored.labels["a"]["recall"] == 0.0 and scored.labels["b"]["recall"] == 1.0
    assert scored.labels["b"]["precision"] == pytest.approx(3 / 5)
    assert scored.aggregates["examples"] == 5.0
    assert any("label prior" in n and "a 0.25" in n and "b 0.5" in n for n in scored.notes), scored.notes


def test_multilabel_prior_with_tuned_thresholds_is_judged_as_the_models_are(tmp_path):
    """eval.tune_thresholds: the prior, like base and tuned, gets thresholds tuned on the validation
    rows (validation_at_thresholds) that then judge its test split; the tuned model's stay its own."""
    task, splits, _ = _multilabel(tmp_path, tune_thresholds=True)
    task.thresholds = [0.3, 0.7]  # as the tuned model's validation set them
    scored = task.evaluate_prior(splits.train, splits.validation, splits.label_names, split="validation")
    (at,) = scored.also.values()
    assert list(scored.also) == ["validation_at_thresholds"]
    # a constant score: any threshold at or below it predicts the label everywhere (its best F1 here)
    assert [at.labels[n]["threshold"] for n in ("a", "b")] == [0.25, 0.5]
    assert all(r["predicted"] == ["a", "b"] for r in at.rows)
    assert task.thresholds == [0.3, 0.7]
    test = task.evaluate_prior(splits.train, splits.validation, splits.label_names, split="test")
    assert all(r["predicted"] == ["a", "b"] for r in test.rows)


def test_single_label_prior_predicts_the_majority_class_with_the_class_frequencies(tmp_path):
    train = [(f"t{i}", c) for i, c in enumerate(["neg"] * 6 + ["pos"] * 3 + ["mixed"])]
    val = [("v0", "neg"), ("v1", "pos"), ("v2", "pos"), ("v3", "mixed")]
    raw = {"task": "classification", "model": {"source": "tiny:distilbert"},
           "data": {"train_file": _csv(tmp_path / "train.csv", ["text", "label"], train),
                    "validation_file": _csv(tmp_path / "val.csv", ["text", "label"], val),
                    "text_column": "text", "label_column": "label"}}
    task = get_task(recipe_from_dict(raw).values)
    splits = task.load_splits()
    names = splits.label_names
    scored = task.evaluate_prior(splits.train, splits.validation, names, split="validation")
    freq = {"neg": 0.6, "pos": 0.3, "mixed": 0.1}
    assert all(r["predicted"] == "neg" for r in scored.rows)
    assert scored.rows[0]["scores"] == pytest.approx(freq)
    gold = [c for _, c in val]
    want = log_loss(gold, [[freq[n] for n in sorted(names)]] * len(gold), labels=sorted(names))
    assert scored.aggregates["loss"] == pytest.approx(want, rel=1e-6)
    assert scored.aggregates["accuracy"] == 0.25
    assert scored.labels["neg"]["recall"] == 1.0 and scored.labels["pos"]["recall"] == 0.0
    assert scored.extra["confusion"] == {"neg": {"neg": 1}, "pos": {"neg": 2}, "mixed": {"neg": 1}}


def test_chat_classification_prior_answers_the_most_common_class(tmp_path):
    def chat(text, answer, group=None):
        rec = {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]}
        return json.dumps({**rec, **({"group": group} if group else {})})

    answers = ["neither"] * 5 + ["hate"] * 2 + ["offensive"] * 3
    (tmp_path / "train.jsonl").write_text("\n".join(chat(f"t{i}", a, "x") for i, a in enumerate(answers)))
    (tmp_path / "val.jsonl").write_text("\n".join([chat("v0", "hate", "x"), chat("v1", "neither", "x"),
                                                   chat("v2", "neither", "y")]))
    raw = {"task": "chat_classification", "model": {"source": "tiny:llama"},
           "data": {"train_file": str(tmp_path / "train.jsonl"), "validation_file": str(tmp_path / "val.jsonl"),
                    "classes": ["hate", "offensive", "neither"], "group_columns": ["group"]},
           "fairness": {"positive_classes": ["hate"], "max_fpr": 0.1}}
    task = get_task(recipe_from_dict(raw).values)
    splits = task.load_splits()
    records = task.eval_records(splits.validation)
    scored = task.evaluate_prior(splits.train, records, splits.label_names, split="validation")
    assert [r["answer"] for r in scored.rows] == ["neither"] * 3
    assert scored.aggregates["accuracy"] == pytest.approx(2 / 3)
    assert scored.labels["neither"]["recall"] == 1.0 and scored.labels["hate"]["recall"] == 0.0
    # a constant answer has no group to be fair or unfair to: no fairness rows for the prior
    assert "groups" not in scored.extra and "groups_flagged" not in scored.aggregates


def test_ner_has_no_label_prior():
    task = get_task(recipe_from_dict({"task": "ner", "model": {"source": "tiny:llama"},
                                       "data": {"train_file": "x.txt"}}).values)
    assert task.evaluate_prior([], [], ["PER"], split="validation") is None


def test_a_label_absent_from_training_gets_a_tiny_score_not_an_infinite_loss(tmp_path):
    train = [(f"t{i}", 1, 0) for i in range(4)]
    val = [("v0", 1, 1)]
    raw = {"task": "classification", "model": {"source": "tiny:distilbert"},
           "data": {"train_file": _csv(tmp_path / "train.csv", ["text", "a", "b"], train),
                    "validation_file": _csv(tmp_path / "val.csv", ["text", "a", "b"], val),
                    "text_column": "text", "labels": {"a": "a", "b": "b"}}}
    task = get_task(recipe_from_dict(raw).values)
    splits = task.load_splits()
    scored = task.evaluate_prior(splits.train, splits.validation, splits.label_names, split="validation")
    assert math.isfinite(scored.aggregates["loss"]) and scored.rows[0]["predicted"] == ["a"]


def test_the_prior_gets_no_fairness_report_where_the_models_get_one(tmp_path):
    """A constant prediction treats every group alike: no bias rows, no groups_flagged for the prior,
    while the same scoring path gives a model's evaluation its report."""
    rows = [(f"t{i}", int(i % 3 == 0), int(i % 2 == 0), "x" if i % 4 else "y") for i in range(48)]
    raw = {"task": "classification", "model": {"source": "tiny:distilbert"},
           "data": {"train_file": _csv(tmp_path / "train.csv", ["text", "a", "b", "grp"], rows),
                    "validation_file": _csv(tmp_path / "val.csv", ["text", "a", "b", "grp"], rows),
                    "text_column": "text", "labels": {"a": "a", "b": "b"}, "group_columns": ["grp"]},
           "fairness": {"positive_classes": ["a"]}}
    task = get_task(recipe_from_dict(raw).values)
    splits = task.load_splits()
    prior = task.evaluate_prior(splits.train, splits.validation, splits.label_names, split="validation")
    assert "bias" not in prior.extra and "groups_flagged" not in prior.aggregates
    varied = np.array([[2.0 if a else -2.0, 0.0] for _, a, _, _ in rows], dtype=np.float32)
    model = task._scored(varied, splits.validation, splits.label_names, phase="tuned", split="validation")
    assert "bias" in model.extra and "groups_flagged" in model.aggregates
