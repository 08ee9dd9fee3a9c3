"""eval.targets (issue 28 item 5): the judge (which way each metric is better; a metric the
evaluation lacks is not met), the recipe check that refuses a name no metric of the task can be, and
the targets event into the store (`targets` table, runs.targets_met) and `show`."""

from __future__ import annotations

from tests.conftest import DEMO_RECIPE, ROOT, copy_encoder_demo, workbench
from tests.integration.runs import q, write_run_folder
from workbench import rundir
from workbench.events import EventWriter
from workbench.metrics.targets import judge
from workbench.store.db import connect
from workbench.store.ingest import ingest_run


def test_higher_is_better_met_at_or_above_lower_is_better_at_or_below_missing_not_met():
    found = judge({"f1_macro": 0.6, "accuracy": 0.9, "loss": 0.5, "hamming_loss": 0.1, "exact_match": 0.2},
                  {"f1_macro": 0.6, "accuracy": 0.85, "loss": 0.5, "hamming_loss": 0.2}, "test")
    by = {t["metric"]: t for t in found}
    assert [t["metric"] for t in found] == ["accuracy", "exact_match", "f1_macro", "hamming_loss", "loss"]
    assert by["f1_macro"] == {"metric": "f1_macro", "split": "test", "target": 0.6, "value": 0.6, "met": True}
    assert by["accuracy"]["met"] is False
    assert by["loss"]["met"] is True and by["hamming_loss"]["met"] is False  # lower is better
    assert by["exact_match"] == {"metric": "exact_match", "split": "test", "target": 0.2, "value": None, "met": False}
    assert judge({}, {"f1_macro": 1.0}, "validation") == []


def test_a_target_no_metric_of_the_task_can_be_is_refused_in_one_line(tmp_path):
    recipe = copy_encoder_demo(tmp_path)
    text = recipe.read_text()
    recipe.write_text(text.replace("[eval]\n", "[eval]\ntargets = { f1_macro = 0.6, f1_macr = 0.6 }\n", 1))
    line = next(i for i, s in enumerate(recipe.read_text().splitlines(), 1) if s.startswith("targets"))
    proc = workbench("validate", str(recipe))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{recipe}:{line}" in lines[0] and "eval.targets" in lines[0] and "'f1_macr'" in lines[0]
    assert "f1_micro" in lines[0]  # what was expected: the task's metrics
    # a metric of another task (NER's invented_rate) is no metric of classification either
    ner = workbench("validate", str(recipe), "--set", "eval.targets={ invented_rate = 0.1 }")
    assert ner.returncode == 2 and "'invented_rate'" in ner.stderr, ner.stderr
    good = workbench("validate", str(recipe), "--set", "eval.targets={ f1_macro = 0.6, loss = 0.3 }")
    assert good.returncode == 0, good.stdout + good.stderr


def test_the_targets_event_fills_the_targets_table_and_the_runs_mark(tmp_path):
    run_id = "demo-20260101-120000-0000"
    run_dir = write_run_folder(tmp_path / "runs", run_id, end=None)
    with EventWriter(rundir.events_file(run_dir)) as w:
        w.emit("eval", phase="tuned", split="validation", step=3, epoch=1.0, labels={}, aggregates={"f1_macro": 0.7})
        w.emit("targets", items=[
            {"metric": "f1_macro", "split": "validation", "target": 0.6, "value": 0.7, "met": True},
            {"metric": "exact_match", "split": "validation", "target": 0.2, "value": None, "met": False}])
        w.emit("end", status="completed", error=None)
    store = tmp_path / "runs.duckdb"
    with connect(store) as con:
        ingest_run(con, run_dir)
    assert q(store, "SELECT metric, split, target, value, met FROM targets ORDER BY metric") == [
        ("exact_match", "validation", 0.2, None, False), ("f1_macro", "validation", 0.6, 0.7, True)]
    assert q(store, "SELECT targets_met FROM runs") == [(False,)]
    assert q(store, "SELECT targets_met FROM run_summary") == [(False,)]
    with connect(store) as con:  # ingesting again adds nothing
        ingest_run(con, run_dir)
    assert q(store, "SELECT count(*) FROM targets") == [(2,)]
    out = workbench("show", run_id, store=store)
    assert out.returncode == 0, out.stderr
    assert any("exact_match" in s and "not in the evaluation" in s for s in out.stdout.splitlines()), out.stdout
    assert any("f1_macro" in s and "met" in s and "not met" not in s for s in out.stdout.splitlines()), out.stdout


def test_a_run_without_targets_has_no_mark(tmp_path):
    run_dir = write_run_folder(tmp_path / "runs", "demo-20260101-120000-0001")
    store = tmp_path / "runs.duckdb"
    with connect(store) as con:
        ingest_run(con, run_dir)
    assert q(store, "SELECT targets_met FROM runs") == [(None,)]
    assert q(store, "SELECT count(*) FROM targets") == [(0,)]


def test_the_hate_speech_recipe_carries_the_source_projects_acceptance_bar():
    from workbench.recipe import load_recipe

    recipe = load_recipe(ROOT / "recipes" / "hate_speech.toml")
    assert recipe.view.eval.targets == {"f1_macro": 0.615}


def sweep_run(root, run_id: str, r: int, f1: float, met: bool | None):
    """A finished run of group g1 with lora.r = r, its tuned validation f1_macro, and its targets judged
    (None: it had none)."""
    import time

    from workbench.recipe import load_recipe, write_frozen

    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    recipe = load_recipe(DEMO_RECIPE, [f"lora.r={r}", "group=g1", "train.best_metric=f1_macro"])
    write_frozen(recipe, run_dir / rundir.RECIPE, "frozen")
    rundir.write_run_meta(run_dir, {"run_id": run_id, "recipe_name": recipe.name, "recipe_path": str(DEMO_RECIPE),
                                    "target": "local", "group": "g1", "created_at": time.time(), "host": "h"})
    with EventWriter(rundir.events_file(run_dir)) as w:
        w.emit("start", run_id=run_id, recipe=recipe.values, versions={}, host="h", pid=1, world_size=1)
        w.emit("model", trainable_params=1, total_params=10, source="tiny:distilbert", method="lora")
        w.emit("eval", phase="tuned", split="validation", step=1, epoch=1.0, labels={}, aggregates={"f1_macro": f1})
        if met is not None:
            w.emit("targets", items=[{"metric": "f1_macro", "split": "validation", "target": 0.5, "value": f1,
                                      "met": met}])
        w.emit("end", status="completed", error=None)
    return run_dir


def test_compare_group_says_which_trials_meet_the_targets(tmp_path):
    from workbench.store.read import compare, rank_trials

    store = tmp_path / "runs.duckdb"
    folders = [sweep_run(tmp_path / "runs", f"demo-20260101-12000{i}-000{i}", r, f1, met)
               for i, (r, f1, met) in enumerate(((4, 0.4, False), (8, 0.7, True), (8, 0.6, True), (16, 0.3, None)))]
    with connect(store) as con:
        for run_dir in folders:
            ingest_run(con, run_dir)
        ranking = rank_trials(compare(con, [f.name for f in folders]))
    assert ranking is not None
    assert [(t.config["lora.r"], t.met, t.judged, t.targets_text()) for t in ranking.trials] == [
        ("8", 2, 2, "met 2/2"), ("4", 0, 1, "met 0/1"), ("16", 0, 0, "—")]
    out = workbench("compare", "--group", "g1", store=store)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "met 2/2" in line or "met 0/1" in line]
    assert len(rows) == 2 and "8" in rows[0] and "4" in rows[1], out.stdout
    assert "targets met 2/3" in out.stdout  # the group's line: of the runs judged


def test_metrics_json_of_a_resumed_run_equals_what_the_store_keeps(tmp_path):
    """The trainer writes metrics.json from its own event file: an earlier attempt's tuned evaluation
    is superseded by the resumed one's, its kept base evaluation stays, epoch evaluations are left out;
    the store ingesting the same file holds the same figures."""
    import json

    from workbench.recipe import load_recipe
    from workbench.tasks import get_task
    from workbench.train.context import RunContext
    from workbench.train.results import write_results

    run_id = "demo-20260101-120000-00bb"
    run_dir = write_run_folder(tmp_path / "runs", run_id, end=None)
    agg = {"f1_macro": 0.3, "loss": float("nan")}
    with EventWriter(rundir.events_file(run_dir)) as w:
        w.emit("eval", phase="base", split="validation", step=0, epoch=0.0, labels={"ad": {"f1": 0.1}}, aggregates=agg)
        w.emit("eval", phase="epoch", split="validation", step=2, epoch=1.0, labels={}, aggregates={"f1_macro": 0.5})
        w.emit("eval", phase="tuned", split="validation", step=3, epoch=1.0, labels={"ad": {"f1": 0.4}},
               aggregates={"f1_macro": 0.4})
        w.emit("start", run_id=run_id, recipe={}, attempt=2, resumed={"step": 2, "base_kept": ["validation"]})
        w.emit("eval", phase="tuned", split="validation", step=5, epoch=2.0, labels={"ad": {"f1": 0.6}},
               aggregates={"f1_macro": 0.6})
        w.emit("warnings", items=[{"code": "x", "message": "a warning"}])
        recipe = load_recipe(DEMO_RECIPE)
        write_results(RunContext(run_dir, run_id, recipe, w), get_task(recipe.values))
        w.emit("end", status="completed", error=None)
    held = json.loads((run_dir / rundir.METRICS).read_text())
    assert held["warnings"] == ["a warning"] and set(held["splits"]["validation"]) == {"base", "tuned"}
    assert held["splits"]["validation"]["tuned"] == {"labels": {"ad": {"f1": 0.6}}, "aggregates": {"f1_macro": 0.6}}
    assert held["splits"]["validation"]["base"]["aggregates"] == {"f1_macro": 0.3, "loss": None}  # NaN: null
    store = tmp_path / "runs.duckdb"
    with connect(store) as con:
        ingest_run(con, run_dir)
    stored = q(store, "SELECT phase, label, metric, value FROM evals WHERE phase <> 'epoch' ORDER BY seq, label, metric")
    assert [(p, lb, m, None if v != v else v) for p, lb, m, v in stored] == [
        ("base", "(all)", "f1_macro", 0.3), ("base", "(all)", "loss", None), ("base", "ad", "f1", 0.1),
        ("tuned", "(all)", "f1_macro", 0.6), ("tuned", "ad", "f1", 0.6)]
    assert not (run_dir / rundir.PERFORMANCE_CSV).exists()  # classification writes no result tables
