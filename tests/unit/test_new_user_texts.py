"""Issue 29 item 8, the texts a new user met (one test per defect): plurals through one helper, the
guardrails' advice naming only what validate accepts for the data and the model, the task kinds' help,
did-you-mean across sections, and the docs' "labels where tuning hurt" SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.data.splits import Splits
from workbench.errors import UserError
from workbench.metrics import guardrails as g
from workbench.recipe import load_recipe
from workbench.recipe.schema import BY_NAME
from workbench.recipe.suggest import did_you_mean
from workbench.tasks import check_recipe, get_task

STORE_DOC = Path(__file__).resolve().parents[2] / "docs" / "store.md"


def _recipe(tmp_path, data: str, extra: str = ""):
    path = tmp_path / "r.toml"
    path.write_text(f'task = "classification"\n[model]\nsource = "tiny:bert"\n[data]\n{data}\n{extra}', encoding="utf-8")
    return load_recipe(path)


def _single_label(tmp_path, extra: str = ""):
    (tmp_path / "c.csv").write_text("text,label\none,pos\ntwo,neg\nthree,pos\n", encoding="utf-8")
    return _recipe(tmp_path, 'train_file = "c.csv"\nvalidation_file = "c.csv"\nlabel_column = "label"', extra)


def _multi_label(tmp_path, extra: str = ""):
    (tmp_path / "m.csv").write_text("text,a,b\none,1,0\ntwo,0,1\nthree,1,1\n", encoding="utf-8")
    return _recipe(tmp_path, 'train_file = "m.csv"\nvalidation_file = "m.csv"\nlabel_columns = ["a", "b"]', extra)


def test_plural_says_classes_and_entity_types_and_keeps_one():
    from workbench.wording import counted, plural

    assert [plural(w) for w in ("class", "label", "entity type", "run", "entity")] == \
        ["classes", "labels", "entity types", "runs", "entities"]
    assert (counted(1, "class"), counted(0, "row"), counted(2, "class")) == ("1 class", "0 rows", "2 classes")


def test_a_model_trained_on_other_classes_is_named_with_classes_not_classs():
    splits = Splits([], [], None, ["neg", "pos"], label_word="class")
    with pytest.raises(UserError) as e:
        splits.check_model_labels(["pos", "neg"])
    assert "has the classes pos, neg" in str(e.value) and "classs" not in str(e.value)
    assert splits.describe().endswith("2 classes")


def test_never_predicted_on_single_label_data_advises_nothing_validate_refuses(tmp_path):
    rows = [{"predicted": "pos"}, {"predicted": "pos"}]
    single = get_task(_single_label(tmp_path).values).load_splits()
    (w,) = g.check(rows=rows, label_names=single.label_names, label_word=single.label_word, support={"neg": 1, "pos": 1},
                   rare_label_knobs=single.rare_label_knobs)
    assert "never predicted 1 of 2 classes" in w.message
    assert "eval.tune_thresholds" not in w.message and 'train.class_weights = "balanced"' in w.message
    # the advice is one validate refuses on this data
    with pytest.raises(UserError, match="eval.tune_thresholds"):
        get_task(_single_label(tmp_path, "[eval]\ntune_thresholds = true").values).load_splits()
    # multi-label data: validate accepts it, and the advice names it
    multi = get_task(_multi_label(tmp_path, "[eval]\ntune_thresholds = true").values).load_splits()
    (w,) = g.check(rows=[{"predicted": ["a"]}], label_names=multi.label_names, label_word=multi.label_word,
                   support={"a": 2, "b": 2}, rare_label_knobs=multi.rare_label_knobs)
    assert "eval.tune_thresholds = true" in w.message


def test_an_untrained_models_evaluation_does_not_advise_training_knobs():
    flat = [{"predicted": [], "scores": {"a": 0.5}} for _ in range(5)]
    found = g.check(rows=flat, label_names=["a"], support={"a": 3}, prior={"loss": 0.4}, tuned={"loss": 0.7},
                    who="the evaluated model", trained=False)
    assert {w.code for w in found} == {"never_predicted", "flat_scores", "no_better_than_prior"}
    for w in found:
        assert "train.learning_rate" not in w.message and "train.epochs" not in w.message, w.message
        assert "fine-tune it (`workbench run RECIPE`)" in w.message


def test_the_task_help_says_classification_reads_tables_with_label_columns_or_a_class_column(tmp_path):
    help_text = BY_NAME["task"].help
    assert "CSV texts with 0/1 label columns" not in help_text
    assert "a label column of class names" in help_text and "JSONL" in help_text
    check_recipe(_single_label(tmp_path))  # what the help says is accepted is accepted


@pytest.mark.parametrize(("typed", "meant"), [("eval.lr", "train.learning_rate"), ("eval.epochs", "train.epochs"),
                                              ("train.lr", "train.learning_rate"), ("lora.rank", "lora.r"),
                                              ("eval.tune_threshold", "eval.tune_thresholds")])
def test_an_unknown_key_suggests_the_knob_it_means_in_any_section(tmp_path, typed, meant):
    section, key = typed.split(".")
    path = tmp_path / "r.toml"
    path.write_text(f'[model]\nsource = "tiny:bert"\n[{section}]\n{key} = 1\n', encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"unknown key {typed} (did you mean {meant}?)")):
        load_recipe(path)
    assert did_you_mean(typed, BY_NAME) == f" (did you mean {meant}?)"


def test_the_docs_labels_where_tuning_hurt_query_returns_only_hurt_labels(tmp_path):
    from workbench.actions.browse import query
    from workbench.store.db import connect

    sql = next(re.search(r'workbench query "(.*)"', line).group(1) for line in STORE_DOC.read_text().splitlines()
               if "labels where tuning hurt" in line)
    store = tmp_path / "runs.duckdb"
    with connect(store) as con:
        con.execute("INSERT INTO runs (run_id, recipe_name, status) VALUES ('r1', 'demo', 'completed')")
        for label, base, tuned in (("hurt", 0.6, 0.4), ("improved", 0.4, 0.6), ("unchanged", 0.5, 0.5)):
            for seq, (phase, value) in enumerate((("base", base), ("tuned", tuned))):
                con.execute("INSERT INTO evals (run_id, seq, phase, split, label, metric, value) "
                            "VALUES ('r1', ?, ?, 'validation', ?, 'f1', ?)", [seq, phase, label, value])
    got = query(store, sql)
    assert [dict(zip(got.columns, r))["label"] for r in got.rows] == ["hurt"], got.rows


def test_the_export_card_gives_the_row_counts_the_runs_log_recorded(tmp_path):
    from workbench.actions.export.card import _data_lines
    from workbench.store import export_read
    from workbench.store.db import connect
    from workbench.tasks.exported import CardText

    recipe = _single_label(tmp_path)
    described = Splits(range(1200), range(300), range(80), ["neg", "pos"], label_word="class").describe()
    store = tmp_path / "runs.duckdb"
    with connect(store) as con:
        con.execute("INSERT INTO runs (run_id, recipe_name, status) VALUES ('r1', 'demo', 'completed')")
        con.execute("INSERT INTO logs (run_id, seq, t, level, message) VALUES ('r1', 3, 0, 'info', ?)",
                    [f"data: {described}"])
        facts = export_read.run_facts(con, "r1")
    card = CardText("class", "", [], [], (), [], [])
    lines = _data_lines(recipe.view, card, facts["data_read"])
    assert "- rows the run read: 1,200 train, 300 validation, 80 test" in lines
    assert not any("not recorded" in line for line in lines)
