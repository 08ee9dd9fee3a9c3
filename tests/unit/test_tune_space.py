"""`workbench tune`'s recipe options ([tune]) and its search space (workbench/tune/space.py): every source
of the space, its scales and types, and every bad entry refused in one line naming where it came from."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from workbench.errors import UserError
from workbench.recipe import load_recipe, recipe_from_dict
from workbench.tasks import check_recipe
from workbench.tune.space import own_params, search_space, trial_recipe_values

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


# --- the search space ---------------------------------------------------------------------------

def test_the_default_space_is_the_tasks_for_lora_with_class_weights_for_classification():
    space = search_space(recipe(tune={"pruner": "none"}))
    assert space == {
        "train.learning_rate": FloatDistribution(1e-5, 5e-3, log=True),
        "train.epochs": FloatDistribution(1.0, 5.0, step=1.0),
        "train.warmup_steps": FloatDistribution(0.0, 0.2),
        "lora.r": CategoricalDistribution([4, 8, 16, 32]),
        "lora.alpha": CategoricalDistribution([8.0, 16.0, 32.0, 64.0]),
        "lora.dropout": FloatDistribution(0.0, 0.2),
        "train.class_weights": CategoricalDistribution(["none", "balanced"])}


def test_a_full_fine_tune_gets_its_own_rates_and_no_adapter_knobs():
    space = search_space(recipe(model={"source": "tiny:bert", "method": "full"}))
    assert space["train.learning_rate"] == FloatDistribution(5e-6, 1e-4, log=True)
    assert not [name for name in space if name.startswith("lora.")]


def test_a_generative_task_has_no_class_weights_and_fewer_epochs():
    r = recipe_from_dict({"task": "ner", "model": {"source": "tiny:llama"}, "data": {"train_file": "x.json"},
                          "tune": {"pruner": "none"}})
    space = search_space(r)
    assert "train.class_weights" not in space
    assert space["train.epochs"] == FloatDistribution(1.0, 3.0, step=1.0)


def test_a_recipes_class_weights_table_is_kept_out_of_the_default_space():
    assert "train.class_weights" not in search_space(recipe(train={"class_weights": {"a": 2.0}}))


def test_the_recipes_table_replaces_the_default_and_flags_win_over_it():
    r = recipe(tune={"space": {"train.learning_rate": "1e-5..1e-3", "lora.r": "4,8", "train.weight_decay": "0..0.1"}})
    space = search_space(r, ["lora.r=8,32", "train.batch_size=8..64", "train.length_grouping=true,false",
                             "train.scheduler=linear,cosine", "train.class_weights=none,balanced"])
    assert space == {
        "train.learning_rate": FloatDistribution(1e-5, 1e-3, log=True),   # a rate: log scale
        "lora.r": CategoricalDistribution([8, 32, 16]),                   # the flag's list, and the recipe's own 16
        "train.weight_decay": FloatDistribution(0.0, 0.1),                # from 0: uniform
        "train.batch_size": IntDistribution(8, 64),                       # an int knob draws ints
        "train.length_grouping": CategoricalDistribution([True, False]),
        "train.scheduler": CategoricalDistribution(["linear", "cosine"]),
        "train.class_weights": CategoricalDistribution(["none", "balanced"])}
    assert search_space(r, ["train.max_grad_norm=0.01..10"])["train.max_grad_norm"].log  # 1000x: log scale
    assert not search_space(r, ["train.max_grad_norm=0.5..10"])["train.max_grad_norm"].log


def test_trial_values_become_recipe_values_and_trial_0_is_the_recipes_own():
    r = recipe(lora={"r": 12}, train={"epochs": 3}, tune={"pruner": "none"})
    space = search_space(r)
    assert 12 in space["lora.r"].choices  # the recipe's own rank joins the list: trial 0 asks it
    own = own_params(r, space)
    assert own["lora.r"] == 12 and own["train.epochs"] == 3.0 and own["train.class_weights"] == "none"
    values = trial_recipe_values(own)
    assert values["train.class_weights"] == {}
    assert trial_recipe_values({"train.class_weights": "balanced", "lora.r": 8}) == {
        "train.class_weights": "balanced", "lora.r": 8}
    assert r.single(values).values == r.values


@pytest.mark.parametrize("item, expected", [
    ("lora.rank=8,16", "--space lora.rank=8,16: lora.rank is not a knob (did you mean lora.r?)"),
    ("train.lr=1e-5..1e-3", "--space train.lr=1e-5..1e-3: train.lr is not a knob (did you mean train.learning_rate?)"),
    ("lora.r", "--space lora.r: expected KEY=LO..HI or KEY=a,b,c, e.g. train.learning_rate=1e-5..1e-3 or "
               "lora.r=8,16,32"),
    ("train.learning_rate=1e-3..1e-5", "--space train.learning_rate=1e-3..1e-5: expected LO < HI "
                                       "(train.learning_rate drawn from LO to HI)"),
    ("train.learning_rate=1e-5..", "--space train.learning_rate=1e-5..: train.learning_rate: LO..HI needs both ends"),
    ("lora.r=4..8.5", "--space lora.r=4..8.5: lora.r = 8.5 is not int in [1, 4096]"),
    ("lora.r=8,x", "--space lora.r=8,x: lora.r = 'x' is not int in [1, 4096]"),
    ("lora.r=8,,16", "--space lora.r=8,,16: an empty value in the list (expected values of int in [1, 4096], "
                     "comma-separated)"),
    ("lora.r=8,8", "--space lora.r=8,8: 8 is listed twice"),
    ("train.scheduler=a..b", "--space train.scheduler=a..b: train.scheduler = 'a..b' is not one of 'linear', "
                             "'cosine', 'constant', 'constant_with_warmup', 'reduce_lr_on_plateau'"),
    ("train.length_grouping=0..1", "--space train.length_grouping=0..1: a range LO..HI needs a number knob; "
                                   "train.length_grouping is true or false"),
    ("lora.target_modules=q,v", "--space lora.target_modules=q,v: lora.target_modules is a list of strings: a "
                                "search space lists single values (numbers, true/false, text)"),
    ("train.class_weights={a = 2}", "--space train.class_weights={a = 2}: train.class_weights = '{a = 2}': a table "
                                    "cannot be listed (expected 'balanced' or 'none')"),
    ("train.seed=1,2", "--space train.seed=1,2: train.seed cannot be tuned (a trial that wins by its seed wins by "
                       "luck: tune on one seed, then run the best recipe with seeds = [...])"),
    ("launch.gpus=1,2", "--space launch.gpus=1,2: launch.gpus cannot be tuned (it says where and how the trials "
                        "train, not what they learn)"),
    ("tune.trials=5,10", "--space tune.trials=5,10: tune.trials cannot be tuned (it names, groups or counts the runs)"),
    ("data.max_rows=100,200", "--space data.max_rows=100,200: data.max_rows cannot be tuned: it selects the rows the "
                              "trials are scored on, so they would be judged on different data"),
    ("data.train_file=a.csv,b.csv", "--space data.train_file=a.csv,b.csv: data.train_file cannot be tuned (a file "
                                    "is data, not a setting)"),
])
def test_a_bad_space_flag_is_refused_in_one_line_naming_it(item, expected):
    with pytest.raises(UserError) as e:
        search_space(recipe(), [item])
    assert str(e.value) == expected


def test_an_adapter_knob_is_refused_for_a_full_fine_tune():
    with pytest.raises(UserError) as e:
        search_space(recipe(model={"source": "tiny:bert", "method": "full"}), ["lora.r=8,16"])
    assert str(e.value) == "--space lora.r=8,16: lora.r cannot be tuned: runs of model.method = 'full' do not read it"


def test_a_bad_recipe_space_key_is_refused_naming_the_file_and_its_line(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('model.source = "tiny:bert"\ndata.train_file = "x.csv"\n\n[tune.space]\n'
                    'train.learning_rate = "1e-5..1e-3"\nlora.rank = "8,16"\n')
    with pytest.raises(UserError) as e:
        search_space(load_recipe(path))
    assert str(e.value) == f"{path}:6: tune.space lora.rank = '8,16': lora.rank is not a knob (did you mean lora.r?)"


def test_a_study_tunes_one_method():
    with pytest.raises(UserError) as e:
        search_space(recipe(methods=["lora", "full"]))
    assert str(e.value) == ("methods = ['lora', 'full']: a study tunes one method (its knobs and rates differ); tune "
                            "each in a recipe of its own (model.method)")


# --- trial 0 inside the space; epochs as the pruner's clock (review M2, M3) -----------------------

def _shipped() -> list:
    """(recipe file, method) for every shipped recipe (the demo recipe among them) and each of its methods."""
    from tests.conftest import DEMO_RECIPE
    from workbench.recipe.catalog import SHIPPED_DIR, shipped_names

    paths = [SHIPPED_DIR / f"{n}.toml" for n in shipped_names()]
    assert DEMO_RECIPE.resolve() in [p.resolve() for p in paths]
    return [pytest.param(p, m, id=f"{n}-{m}") for n, p in zip(shipped_names(), paths, strict=True)
            for m in load_recipe(p).view.methods or [load_recipe(p).model.method]]


@pytest.mark.parametrize("pruner", ["median", "none"])
@pytest.mark.parametrize("path, method", _shipped())
def test_every_shipped_recipes_trial_0_lies_inside_its_default_space(path, method, pruner):
    """Trial 0 is the recipe's own values; Optuna warns "out of range" into the worker log only and TPE
    models the stray point (the demo's 20 epochs against 1..5, hate_speech's 100 warm-up steps against a
    share of 0..0.2). Asked with warnings as errors, trial 0 must come back as the recipe's values."""
    import warnings

    import optuna

    r = load_recipe(path, [f'methods=["{method}"]', f"tune.pruner={pruner}"])
    space = search_space(r)
    own = own_params(r, space)
    study = optuna.create_study()
    study.enqueue_trial(own)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trial = study.ask(fixed_distributions=space)
    assert trial.params == own
    assert r.single(trial_recipe_values(trial.params)).values == r.values


def test_a_range_widens_to_the_recipes_own_value_and_a_log_range_stays_log():
    r = recipe(train={"learning_rate": 0.02, "epochs": 8, "warmup_steps": 0.3}, lora={"dropout": 0.4},
               tune={"pruner": "none"})
    space = search_space(r)
    assert space["train.learning_rate"] == FloatDistribution(1e-5, 0.02, log=True)
    assert space["train.epochs"] == FloatDistribution(1.0, 8.0, step=1.0)
    assert space["train.warmup_steps"] == FloatDistribution(0.0, 0.3)
    assert space["lora.dropout"] == FloatDistribution(0.0, 0.4)
    assert search_space(r, ["train.batch_size=16..64"])["train.batch_size"] == IntDistribution(8, 64)  # its own 8
    off_grid = search_space(recipe(train={"epochs": 2.5}, tune={"pruner": "none"}))["train.epochs"]
    assert off_grid == FloatDistribution(1.0, 5.0)  # 2.5 is no whole epoch: drawn without a step


def test_warm_up_in_steps_is_left_out_of_the_default_space_and_refused_against_a_share_range():
    assert "train.warmup_steps" not in search_space(recipe(train={"warmup_steps": 100}))
    with pytest.raises(UserError) as e:
        search_space(recipe(train={"warmup_steps": 100}), ["train.warmup_steps=0..0.2"])
    assert str(e.value) == ("--space train.warmup_steps=0..0.2: the recipe's train.warmup_steps = 100 is in steps "
                            "(1 and above) but this range is a share of all steps (below 1): give a range of steps, "
                            "e.g. 0..200, or set train.warmup_steps below 1")
    assert search_space(recipe(train={"warmup_steps": 100}), ["train.warmup_steps=20..400"])[
        "train.warmup_steps"] == FloatDistribution(20.0, 400.0, log=False)


def test_a_log_range_cannot_hold_a_zero_of_the_recipe_in_one_line():
    with pytest.raises(UserError) as e:
        search_space(recipe(train={"weight_decay": 0.0}), ["train.weight_decay=1e-4..1e-1"])
    assert str(e.value) == ("--space train.weight_decay=1e-4..1e-1: the recipe's train.weight_decay = 0 cannot join "
                            "a log-scale range (trial 0 is the recipe's own values): give a range from 0, or set "
                            "train.weight_decay inside 0.0001..0.1")


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_with_a_pruner_on_the_default_space_leaves_epochs_out(pruner):
    """Epochs are the pruner's clock: trials of several lengths do not compare at an epoch (a 5-epoch
    trial's schedule is young at epoch 1), so every trial runs the recipe's epochs and pruning saves."""
    assert "train.epochs" not in search_space(recipe(tune={"pruner": pruner}))
    assert search_space(recipe(tune={"pruner": "none"}))["train.epochs"] == FloatDistribution(1.0, 5.0, step=1.0)


def test_searching_epochs_under_a_pruner_is_refused_in_one_line_with_both_ways_out(tmp_path):
    with pytest.raises(UserError) as e:
        search_space(recipe(), ["train.epochs=1..4"])
    assert str(e.value) == ("--space train.epochs=1..4: train.epochs cannot be searched while tune.pruner = "
                            "'median' stops trials by their epochs (trials of other lengths do not compare at an "
                            "epoch): set tune.pruner = \"none\", or drop train.epochs from the space")
    path = tmp_path / "r.toml"
    path.write_text('model.source = "tiny:bert"\ndata.train_file = "x.csv"\n[tune]\npruner = "hyperband"\n'
                    '[tune.space]\ntrain.epochs = "1..3"\n')
    with pytest.raises(UserError) as e:
        search_space(load_recipe(path))
    assert str(e.value).startswith(f"{path}:6: tune.space train.epochs = '1..3': train.epochs cannot be searched "
                                   "while tune.pruner = 'hyperband'")
    assert search_space(recipe(tune={"pruner": "none"}), ["train.epochs=1..4"])["train.epochs"] == FloatDistribution(
        1.0, 4.0)
