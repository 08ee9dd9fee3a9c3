"""eval.targets (issue 28 item 5) and the run folder's result files (item 7), through the real CLI on
tiny models: each run judges its tuned model against the recipe's targets (test split when there is
one, else validation) and leaves metrics.json, and chat classification its performance and bias CSVs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, ROOT, workbench
from tests.integration.runs import events_of, q

pytestmark = pytest.mark.slow
HATE = ROOT / "recipes" / "demo" / "hate_speech.toml"


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """(store, run id, folder, stdout) of a short encoder demo run (no test split: judged on validation)
    with one target it meets (f1_macro >= 0) and one it misses (loss <= 0: lower is better)."""
    store = tmp_path_factory.mktemp("targets") / "runs.duckdb"
    proc = workbench("run", str(DEMO_RECIPE), "--set", "train.max_steps=4", "--set",
                     "eval.targets={ f1_macro = 0.0, loss = 0.0 }", store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # an unmet target is a finding, not a failure
    (run_id, run_dir, status), = q(store, "SELECT run_id, run_dir, status FROM runs")
    assert status == "completed"
    return store, run_id, Path(run_dir), proc.stdout


def tuned(store: Path, run_id: str, split: str, metric: str) -> float:
    (value,), = q(store, "SELECT value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = ? "
                         "AND label = '(all)' AND metric = ?", [run_id, split, metric])
    return value


def test_targets_are_recorded_met_and_not_met_with_the_tuned_values(encoder):
    store, run_id, run_dir, out = encoder
    rows = {m: (s, t, v, met) for m, s, t, v, met in q(
        store, "SELECT metric, split, target, value, met FROM targets WHERE run_id = ?", [run_id])}
    assert set(rows) == {"f1_macro", "loss"}
    assert rows["f1_macro"] == ("validation", 0.0, pytest.approx(tuned(store, run_id, "validation", "f1_macro")), True)
    loss = tuned(store, run_id, "validation", "loss")
    assert loss > 0 and rows["loss"] == ("validation", 0.0, pytest.approx(loss), False)
    assert q(store, "SELECT targets_met FROM runs WHERE run_id = ?", [run_id]) == [(False,)]
    (event,) = [e for e in events_of(run_dir) if e["type"] == "targets"]
    assert {i["metric"] for i in event["items"]} == set(rows)
    # the end of the run says so
    assert "targets" in out and "not met" in out, out


def test_show_prints_the_targets(encoder):
    store, run_id, _, _ = encoder
    proc = workbench("show", run_id, store=store)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "loss" in line and "not met" in line]
    assert lines, proc.stdout
    assert [line for line in proc.stdout.splitlines() if "f1_macro" in line and " met" in line and "not met" not in line]


def test_metrics_json_equals_the_stores_evaluations(encoder):
    store, run_id, run_dir, _ = encoder
    held = json.loads((run_dir / "metrics.json").read_text())
    assert held["run_id"] == run_id and held["task"] == "classification"
    rows = q(store, "SELECT phase, split, label, metric, value FROM evals WHERE run_id = ? AND phase <> 'epoch'",
             [run_id])
    assert {p for p, *_ in rows} == {"base", "tuned", "prior"}
    n = 0
    for phase, split, label, metric, value in rows:
        entry = held["splits"][split][phase]
        got = entry["aggregates"][metric] if label == "(all)" else entry["labels"][label][metric]
        assert got == (None if value is None or not math.isfinite(value) else pytest.approx(value)), (phase, split, label)
        n += 1
    assert n == sum(len(m) for s in held["splits"].values() for p in s.values()
                    for m in [p["aggregates"], *p["labels"].values()])


def test_an_eval_run_writes_metrics_json_and_judges_targets(encoder):
    store, run_id, _, _ = encoder
    proc = workbench("eval", run_id, "--quiet", "--set", "eval.targets={ f1_macro = 0.0 }", store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (eval_id, folder), = q(store, "SELECT run_id, run_dir FROM runs WHERE kind = 'eval'")
    held = json.loads((Path(folder) / "metrics.json").read_text())
    assert set(held["splits"]["validation"]) == {"tuned", "prior"}
    assert held["splits"]["validation"]["tuned"]["aggregates"]["f1_macro"] == pytest.approx(
        tuned(store, eval_id, "validation", "f1_macro"))
    assert q(store, "SELECT metric, met FROM targets WHERE run_id = ?", [eval_id]) == [("f1_macro", True)]
    assert q(store, "SELECT targets_met FROM runs WHERE run_id = ?", [eval_id]) == [(True,)]


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    """(store, run id, folder) of a short tiny gpt-oss chat classification run, judged on its test split."""
    store = tmp_path_factory.mktemp("chat-results") / "runs.duckdb"
    proc = workbench("run", str(HATE), "--quiet", "--set", "quant.use_4bit=false", "--set", "train.max_steps=3",
                     "--set", "eval.max_examples=12", "--set", "eval.targets={ f1_macro = 0.99 }",
                     store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id, run_dir), = q(store, "SELECT run_id, run_dir FROM runs")
    return store, run_id, Path(run_dir)


def test_chat_targets_are_judged_on_the_test_split(chat):
    store, run_id, _ = chat
    (split, value, met), = q(store, "SELECT split, value, met FROM targets WHERE run_id = ?", [run_id])
    assert split == "test" and value == pytest.approx(tuned(store, run_id, "test", "f1_macro"))
    assert met == (value >= 0.99)


def test_chat_performance_csv_holds_the_stores_per_class_figures(chat):
    store, run_id, run_dir = chat
    with open(run_dir / "performance.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    stored = q(store, "SELECT phase, split, label, metric, value FROM evals WHERE run_id = ? AND phase <> 'epoch' "
                      "AND label <> '(all)' AND metric IN ('precision', 'recall', 'f1', 'support')", [run_id])
    assert len(stored) == 4 * len(rows) and {r["phase"] for r in rows} == {"base", "tuned", "prior"}
    by_key = {(r["phase"], r["split"], r["label"]): r for r in rows}
    for phase, split, label, metric, value in stored:
        assert float(by_key[(phase, split, label)][metric]) == pytest.approx(value)


def test_chat_bias_csv_holds_every_fairness_row(chat):
    store, run_id, run_dir = chat
    with open(run_dir / "bias.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    stored = q(store, "SELECT phase, split, positive_class, group_column, grp, negatives, false_positives, fpr, max_fpr, "
                      "fnr, subgroup_auc FROM fairness WHERE run_id = ?", [run_id])
    assert len(rows) == len(stored) > 0
    by_key = {(r["phase"], r["split"], r["positive_class"], r["group_column"], r["group"]): r for r in rows}
    for phase, split, positive, column, grp, negatives, fps, fpr, limit, fnr, auc in stored:
        row = by_key[(phase, split, positive, column, grp)]
        assert float(row["negatives"]) == negatives and float(row["false_positives"]) == fps
        for cell, value in ((row["fpr"], fpr), (row["max_fpr"], limit), (row["fnr"], fnr), (row["subgroup_auc"], auc)):
            assert cell == "" if value is None else float(cell) == pytest.approx(value)
