"""The demo recipe through the real CLI, real transformers + peft, and a real DuckDB store."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DEMO_CSV, DEMO_RECIPE, ROOT, workbench
from workbench.recipe import load_recipe
from workbench.tasks import load_splits

pytestmark = pytest.mark.slow
LABELS = ["advertisement", "irrelevant_content", "non_visitor_rant", "toxicity"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = tmp_path_factory.mktemp("demo") / "runs.duckdb"
    proc = workbench("run", str(DEMO_RECIPE), "--quiet", store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    con = duckdb.connect(str(store), read_only=True)
    run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    con.close()
    return store, run_id, proc


def q(store: Path, sql: str, params=()):
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_demo_completes_and_tuned_beats_base(demo):
    store, run_id, proc = demo
    (status, trainable, total, duration), = q(store, "SELECT status, trainable_params, total_params, duration_s "
                                                     "FROM runs WHERE run_id = ?", [run_id])
    assert status == "completed"
    assert 0 < trainable < total  # LoRA: a small share of the weights trains
    assert duration > 0
    per_label = q(store, "SELECT label, metric, base, tuned FROM base_vs_tuned WHERE run_id = ? AND label <> '(all)' "
                         "AND metric = 'f1'", [run_id])
    assert sorted(r[0] for r in per_label) == LABELS  # 4 labels x base and tuned
    agg = {m: (b, t) for m, b, t in q(store, "SELECT metric, base, tuned FROM base_vs_tuned WHERE run_id = ? "
                                             "AND label = '(all)'", [run_id])}
    assert agg["f1_micro"][1] > agg["f1_micro"][0] + 0.25, agg["f1_micro"]
    assert agg["f1_macro"][1] > agg["f1_macro"][0] + 0.25, agg["f1_macro"]
    assert agg["loss"][1] < agg["loss"][0]
    better = sum(1 for _, _, b, t in per_label if t > b)
    assert better >= 3, per_label
    # the supervisor's choice of CPU threads and OpenMP waiting is in the run's log, with why
    (note,), = q(store, "SELECT message FROM logs WHERE run_id = ? AND message LIKE 'CPU threads:%'", [run_id])
    assert " per rank, OpenMP threads " in note and "cores this run may use were busy at start" in note, note
    # The CLI printed the per-label base-vs-tuned table at the end.
    for label in LABELS:
        assert label in proc.stdout
    # a run that learned: no guardrail fires (an empty list, recorded, not a NULL)
    assert q(store, "SELECT warnings FROM runs WHERE run_id = ?", [run_id]) == [([],)]
    assert "warning:" not in proc.stdout
    # ...and it beats the label prior (each label's training frequency as its score) by the guardrail's margin
    (prior, tuned, beats), = q(store, "SELECT prior, tuned, beats_prior FROM base_vs_tuned WHERE run_id = ? "
                                      "AND label = '(all)' AND metric = 'loss'", [run_id])
    assert beats and tuned <= prior * 0.98, (prior, tuned)


def test_a_run_no_better_than_the_label_prior_is_told_so(tmp_path):
    """Issue 28's case: the demo stopped at 40 steps with tuned thresholds learns about each label's
    frequency and no more; the base's random head is easy to beat, the label prior is not. The prior
    (phase prior, no model) is stored beside base and tuned, printed by `diff` and `show`, and the
    guardrail names both figures."""
    store = tmp_path / "runs.duckdb"
    proc = workbench("run", str(DEMO_RECIPE), "--quiet", "--set", "train.max_steps=40", "--set",
                     "eval.tune_thresholds=true", store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id, warnings), = q(store, "SELECT run_id, warnings FROM runs")
    loss = dict(q(store, "SELECT phase, value FROM evals WHERE run_id = ? AND split = 'validation' AND label = "
                         "'(all)' AND metric = 'loss'", [run_id]))
    assert set(loss) == {"base", "epoch", "tuned", "prior"}
    assert loss["tuned"] < loss["base"] and loss["tuned"] > loss["prior"] * 0.98, loss
    (w,) = [w for w in warnings if "no better than the label prior" in w]
    assert f"loss {loss['tuned']:.4f} against the prior's {loss['prior']:.4f}" in w
    assert "no better than the base" not in " ".join(warnings)  # what the base comparison let through
    # the prior on every split the models are judged on, per label too, each at its own thresholds
    splits = q(store, "SELECT split, count(DISTINCT label) FROM evals WHERE run_id = ? AND phase = 'prior' "
                      "GROUP BY split ORDER BY split", [run_id])
    assert splits == [("validation", 5), ("validation_at_thresholds", 5)]
    assert q(store, "SELECT count(*) FROM evals WHERE run_id = ? AND phase = 'prior' AND metric = 'threshold'",
             [run_id])[0][0] == len(LABELS)
    (prior, beats), = q(store, "SELECT prior, beats_prior FROM base_vs_tuned WHERE run_id = ? AND split = "
                               "'validation' AND label = '(all)' AND metric = 'loss'", [run_id])
    assert prior == loss["prior"] and beats is (loss["tuned"] < loss["prior"])
    # diff and show print it beside base and tuned
    diff = workbench("diff", run_id, store=store)
    assert diff.returncode == 0, diff.stderr
    (line,) = [x for x in diff.stdout.splitlines() if x.strip("│┃ ").startswith("loss ")]
    cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
    assert cells[:5] == ["loss", f"{loss['base']:.3f}", f"{loss['tuned']:.3f}",
                         f"{loss['tuned'] - loss['base']:+.3f}", f"{loss['prior']:.3f}"], cells
    assert "prior f1" in diff.stdout
    shown = workbench("show", run_id, store=store)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    shown_prior = text.split("label prior (a constant prediction from the training labels' frequencies):", 1)[1]
    assert f"loss {loss['prior']:.3f}" in shown_prior.split("artifacts")[0]
    assert "no better than the label prior" in text


def test_a_run_that_cannot_learn_completes_with_warnings_saying_so(tmp_path):
    """Learning rate 0: the run completes like any other; the guardrails say it learned nothing, in
    the run's output, `show`, the store's runs.warnings and the runs list."""
    store = tmp_path / "runs.duckdb"
    proc = workbench("run", str(DEMO_RECIPE), "--quiet", "--set", "train.learning_rate=0", "--set", "train.epochs=3",
                     store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id, status, warnings), = q(store, "SELECT run_id, status, warnings FROM runs")
    assert status == "completed"
    codes = {"loss_not_falling", "no_better_than_base"}
    assert any("the training loss did not fall" in w and "raise train.learning_rate (now 0)" in w for w in warnings)
    assert any("no better than the base on validation loss" in w for w in warnings), warnings
    assert len(warnings) >= len(codes) and all("\n" not in w for w in warnings)
    assert proc.stdout.count("warning:") == len(warnings)
    shown = workbench("show", run_id, store=store)
    assert shown.returncode == 0 and "the training loss did not fall" in " ".join(shown.stdout.split())
    listed = workbench("runs", store=store, env={"COLUMNS": "160"})
    assert f"completed ⚠{len(warnings)}" in listed.stdout
    logged = q(store, "SELECT count(*) FROM logs WHERE run_id = ? AND level = 'warning'", [run_id])[0][0]
    assert logged >= len(warnings)


def test_events_are_ingested_once_and_match_the_file(demo):
    store, run_id, _ = demo
    (run_dir_s,), = q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])
    run_dir = Path(run_dir_s)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "start" and events[-1]["type"] == "end" and events[-1]["status"] == "completed"
    n_steps = sum(1 for e in events if e["type"] == "step")
    assert q(store, "SELECT count(*) FROM steps WHERE run_id = ?", [run_id])[0][0] == n_steps
    # sync on an up-to-date store adds nothing; on a deleted store it rebuilds the same rows
    before = q(store, "SELECT (SELECT count(*) FROM steps), (SELECT count(*) FROM evals), (SELECT count(*) FROM logs)")
    assert workbench("sync", store=store).returncode == 0
    assert q(store, "SELECT (SELECT count(*) FROM steps), (SELECT count(*) FROM evals), (SELECT count(*) FROM logs)") == before
    store.unlink()  # the store is derived data: the run folders rebuild it
    assert workbench("sync", store=store).returncode == 0
    assert q(store, "SELECT (SELECT count(*) FROM steps), (SELECT count(*) FROM evals), (SELECT count(*) FROM logs)") == before
    assert q(store, "SELECT status FROM runs WHERE run_id = ?", [run_id])[0][0] == "completed"


def _validation_csv(path: Path) -> tuple[list[str], list[list[int]]]:
    recipe = load_recipe(DEMO_RECIPE)
    val = load_splits(recipe.values).validation
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", *recipe["data.labels"].values()])
        for t, labels in zip(val.texts, val.labels):
            w.writerow([t, *labels])
    return val.texts, val.labels


def test_reloaded_run_reproduces_its_metrics_exactly(demo, tmp_path):
    store, run_id, _ = demo
    texts, _ = _validation_csv(tmp_path / "val.csv")
    out = tmp_path / "preds.jsonl"
    proc = workbench("predict", run_id, "--input", str(tmp_path / "val.csv"), "--output", str(out), store=store)
    assert proc.returncode == 0, proc.stderr
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["text"] for p in preds] == texts
    # Same scores as the trainer's own predictions of these rows...
    (run_dir,), = q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])
    trained = [json.loads(line) for line in (Path(run_dir) / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    assert [p["scores"] for p in preds] == [p["scores"] for p in trained]
    # ...and the same metrics as the stored tuned evaluation, recomputed from the reloaded model.
    import numpy as np

    from workbench.metrics.multilabel import multilabel_report

    y = [[1 if n in p["labels"] else 0 for n in LABELS] for p in preds]
    probs = np.array([[p["scores"][n] for n in LABELS] for p in preds])
    _, agg = multilabel_report(y, probs, LABELS, 0.5)
    stored = dict(q(store, "SELECT metric, value FROM evals WHERE run_id = ? AND phase = 'tuned' AND label = '(all)'",
                    [run_id]))
    assert agg["f1_micro"] == pytest.approx(stored["f1_micro"], abs=1e-12)
    assert agg["f1_macro"] == pytest.approx(stored["f1_macro"], abs=1e-12)
    assert "f1_micro" in proc.stdout


def test_show_diff_compare_query_read_the_store(demo):
    store, run_id, _ = demo
    show = workbench("show", run_id[:12], store=store)
    assert show.returncode == 0 and "completed" in show.stdout and "toxicity" in show.stdout
    assert "trainable" in show.stdout
    diff = workbench("diff", "last", store=store)
    assert diff.returncode == 0
    assert "f1 improved on" in diff.stdout and "non_visitor_rant" in diff.stdout
    out = workbench("query", "select label, tuned > base as better from base_vs_tuned where metric = 'f1' "
                    "and label = 'toxicity'", "--format", "json", store=store)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"label": "toxicity", "better": True}]
    csv_out = workbench("query", "select count(*) as n from runs", "--format", "csv", store=store)
    assert csv_out.stdout.splitlines() == ["n", "1"]
    runs = workbench("runs", "--format", "json", store=store)
    rows = json.loads(runs.stdout)
    assert rows[0]["run_id"] == run_id and rows[0]["status"] == "completed"
    assert rows[0]["tuned_f1_micro"] > rows[0]["base_f1_micro"]


def test_full_finetune_and_compare(demo, tmp_path):
    store, lora_id, _ = demo
    proc = workbench("run", str(DEMO_RECIPE), "--quiet", "--set", "model.method=full", "--set", "train.epochs=2",
                     "--set", "train.learning_rate=1e-3", store=store)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (full_id, trainable, total), = q(store, "SELECT run_id, trainable_params, total_params FROM runs "
                                            "WHERE method = 'full'")
    assert trainable == total
    cmp = workbench("compare", lora_id, full_id, store=store)
    assert cmp.returncode == 0, cmp.stderr
    assert "model.method" in cmp.stdout and "train.epochs" in cmp.stdout and "lora.r" not in cmp.stdout
    # a full fine-tune reloads from its own saved model
    _validation_csv(tmp_path / "val.csv")
    pred = workbench("predict", full_id, "--input", str(tmp_path / "val.csv"), "--output",
                     str(tmp_path / "p.jsonl"), store=store)
    assert pred.returncode == 0, pred.stderr
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 240


def test_ctrl_c_records_interrupted_with_everything_logged(tmp_path):
    store = tmp_path / "runs.duckdb"
    env = {**os.environ, "WORKBENCH_STORE": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "run", str(DEMO_RECIPE), "--quiet",
                             "--set", "train.epochs=50"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    events_file = None
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until training steps are being written
        found = list((tmp_path / "runs").glob("*/events.jsonl")) if (tmp_path / "runs").exists() else []
        if found and '"type":"step"' in found[0].read_text():
            events_file = found[0]
            break
        time.sleep(0.2)
    assert events_file is not None, "training never started"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert events[-1]["type"] == "end" and events[-1]["status"] == "interrupted"
    (status, ended), = q(store, "SELECT status, ended_at FROM runs")
    assert status == "interrupted" and ended is not None
    assert q(store, "SELECT count(*) FROM steps")[0][0] == sum(1 for e in events if e["type"] == "step") > 0
    assert q(store, "SELECT max(seq) FROM (SELECT seq FROM logs UNION ALL SELECT seq FROM steps "
                    "UNION ALL SELECT seq FROM evals)")[0][0] <= events[-1]["seq"]


def test_help_and_runs_import_neither_torch_nor_transformers(tmp_path):
    code = ("import sys, contextlib, io\n"
            "from workbench.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "    main(['runs'])\n"
            "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "WORKBENCH_STORE": str(tmp_path / "s.duckdb")})
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def _evaluation(store, run_id, split="validation"):
    return {(label, metric): value for label, metric, value in q(
        store, "SELECT label, metric, value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = ?",
        [run_id, split])}


def _own_copy(store: Path, tmp_path: Path) -> Path:
    """The module's store copied: evaluation runs added here leave the other tests' store as it was
    (the run folders stay where the store records them)."""
    import shutil

    copy = tmp_path / "runs.duckdb"
    shutil.copy(store, copy)
    return copy


def test_eval_of_a_finished_run_reproduces_its_tuned_metrics_and_diff_sets_them_side_by_side(demo, tmp_path):
    store, run_id, _ = demo
    store = _own_copy(store, tmp_path)
    proc = workbench("eval", run_id[-4:], "--quiet", store=store, timeout=600)  # the short id the app shows
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (eval_id, kind, evaluates, model, status), = q(
        store, "SELECT run_id, kind, evaluates, model, status FROM run_summary WHERE kind = 'eval'")
    assert (kind, evaluates, model, status) == ("eval", f"run:{run_id}", f"run:{run_id}", "completed")
    assert _evaluation(store, eval_id) == _evaluation(store, run_id)  # every label and metric, exactly
    assert len(_evaluation(store, eval_id)) > 20
    out = workbench("diff", run_id, eval_id, store=store)
    assert out.returncode == 0, out.stderr
    assert f"A = {run_id}" in out.stdout and "f1 higher in B on 0 of 4 labels" in out.stdout
    # an evaluation has no model of its own to evaluate
    again = workbench("eval", eval_id, store=store)
    assert again.returncode == 2 and "is an evaluation: it has no model of its own" in again.stderr


def test_eval_of_a_model_source_scores_it_on_a_recipes_data(demo, tmp_path):
    store, run_id, _ = demo
    store = _own_copy(store, tmp_path)
    proc = workbench("eval", "tiny:distilbert", str(DEMO_RECIPE), "--quiet", "--name", "untrained", store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (eval_id, model), = q(store, "SELECT run_id, model FROM runs WHERE recipe_name = 'untrained'")
    assert model == "tiny:distilbert" and eval_id.startswith("untrained-")
    untrained, tuned = _evaluation(store, eval_id), _evaluation(store, run_id)
    assert untrained[("(all)", "f1_micro")] < tuned[("(all)", "f1_micro")]
    # the tiny base the demo trained from, scored alone, is the demo's base evaluation
    base = dict(((label, m), v) for label, m, v in q(store, "SELECT label, metric, base FROM base_vs_tuned "
                                                             "WHERE run_id = ? AND split = 'validation'", [run_id]))
    assert untrained[("(all)", "loss")] == pytest.approx(base[("(all)", "loss")], abs=1e-6)


def test_eval_of_a_run_on_data_whose_labels_are_in_another_order_is_refused_before_anything_starts(demo, tmp_path):
    """The scores come in the model's label order, the gold labels in the data's: refused before the
    model loads, with no run folder and no run in the store (was: exit 1 after loading, recorded failed)."""
    store, run_id, _ = demo
    store = _own_copy(store, tmp_path)
    runs_before = q(store, "SELECT run_id FROM runs ORDER BY run_id")  # other tests of this module add runs
    assert (run_id,) in runs_before
    text = DEMO_RECIPE.read_text(encoding="utf-8")
    labels = ('advertisement = "advertisement", irrelevant_content = "relevance", non_visitor_rant = "rant", '
              'toxicity = "toxicity"')
    assert labels in text and 'train_file = "data/reviews.csv"' in text
    text = text.replace(labels, 'toxicity = "toxicity", ' + labels.removesuffix(', toxicity = "toxicity"'))
    recipe = tmp_path / "reordered.toml"
    recipe.write_text(text.replace('train_file = "data/reviews.csv"', f'train_file = "{DEMO_CSV.as_posix()}"'),
                      encoding="utf-8")
    proc = workbench("eval", run_id, str(recipe), store=store, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line == (f"error: {recipe}: run {run_id}'s model has the labels {', '.join(LABELS)} in this order; this "
                    f"data has toxicity, {', '.join(LABELS[:3])}: list them in the model's order (data.labels / "
                    "data.classes)")
    assert q(store, "SELECT run_id FROM runs ORDER BY run_id") == runs_before
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, expected", [
    (("no-such-run-or-model",), "is no run in the store; to evaluate a model source"),
    (("run:nope",), "no run 'nope' in the store"),
])
def test_eval_of_nothing_to_evaluate_is_one_line(demo, args, expected):
    store, _, _ = demo
    proc = workbench("eval", *args, store=store)
    assert proc.returncode == 2 and expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_predict_reads_another_text_column_when_told(demo, tmp_path):
    store, run_id, _ = demo
    texts, _ = _validation_csv(tmp_path / "val.csv")
    lines = (tmp_path / "val.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "reviews.csv").write_text("\n".join(["review" + lines[0][len("text"):], *lines[1:]]) + "\n",
                                          encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    bad = workbench("predict", run_id, "--input", str(tmp_path / "reviews.csv"), "--output", str(out), store=store)
    assert bad.returncode == 2 and "text_column" in bad.stderr and not out.exists()
    for flags in (("--text-column", "review"), ("--set", "data.text_column=review")):
        proc = workbench("predict", run_id, "--input", str(tmp_path / "reviews.csv"), "--output", str(out), *flags,
                         store=store)
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == texts
    refused = workbench("predict", run_id, "--input", str(tmp_path / "reviews.csv"), "--output", str(out),
                        "--set", "lora.r=4", store=store)
    assert refused.returncode == 2 and "predict takes the keys that say how the input is read" in refused.stderr
