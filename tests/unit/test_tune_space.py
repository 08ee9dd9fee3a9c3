"""`workbench tune`'s recipe options ([tune]) and its search space (workbench/tune/space.py): every source
of the space, its scales and types, and every bad entry refused in one line naming where it came from."""

import pytest

from workbench.errors import UserError
from workbench.recipe import load_recipe, recipe_from_dict
from workbench.tasks import check_recipe

BASE = {"model": {"source": "tiny:bert"}, "data": {"train_file": "x.csv", "labels": {"a": "a"}}}


def recipe(**tables):
    return recipe_from_dict({**BASE, **tables})


def test_the_tune_knobs_default_to_a_median_pruned_study_of_20_trials_on_the_best_metric():
    t = recipe().tune
    assert (t.trials, t.timeout, t.metric, t.seed, t.pruner, t.space) == (20, 0, "", 0, "median", {})


def test_a_tune_space_table_takes_dotted_and_quoted_keys_alike(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('model.source = "tiny:bert"\ndata.train_file = "x.csv"\n[tune]\ntrials = 5\n'
                    '[tune.space]\ntrain.learning_rate = "1e-5..1e-3"\n"lora.r" = "4,8,16"\n')
    r = load_recipe(path)
    assert r.tune.trials == 5
    assert r.tune.space == {"train.learning_rate": "1e-5..1e-3", "lora.r": "4,8,16"}


@pytest.mark.parametrize("tables, expected", [
    ({"tune": {"pruner": "asha"}}, "tune.pruner = 'asha' is not one of 'median', 'hyperband', 'none'"),
    ({"tune": {"trials": 0}}, "tune.trials = 0 is out of range (expected int in [1, 100000])"),
    ({"tune": {"metric": "F1 macro"}}, "tune.metric = 'F1 macro' is not empty or a metric name like f1_macro"),
    ({"sweep": {"tune.trials": [5, 10]}},
     "sweep key tune.trials cannot be swept (a sweep varies training knobs; a sweep is no study: "
     "`workbench tune` reads them)"),
])
def test_bad_tune_knobs_are_refused_in_one_line(tables, expected):
    with pytest.raises(UserError) as e:
        recipe(**tables)
    assert str(e.value) == expected


def test_a_tune_metric_the_task_does_not_report_is_refused_with_the_tasks_metrics():
    with pytest.raises(UserError) as e:
        check_recipe(recipe(tune={"metric": "invented_rate"}))
    assert str(e.value).startswith("tune.metric = 'invented_rate' is no metric of task classification "
                                   "(expected one of accuracy, exact_match, f1_macro,")
    assert "examples" not in str(e.value)
    check_recipe(recipe(tune={"metric": "accuracy"}))


def test_the_forms_tune_space_field_reads_back_lists_of_values_with_their_commas():
    from workbench.recipe.schema import BY_NAME
    from workbench.tui.widgets.knob_form import parse_field, value_text

    knob = BY_NAME["tune.space"]
    space = {"lora.r": "4,8,16", "train.learning_rate": "1e-5..1e-3"}
    assert parse_field(knob, value_text(knob, space)).value == space
    assert parse_field(BY_NAME["data.labels"], "a=x, b=y").value == {"a": "x", "b": "y"}
