"""workbench/tune/study.py, the door to a tune study's journal storage (issue 30): a study created is
found again by its group (a second `tune --group G` continues it), its trial 0 is the recipe's own
values, its direction the metric's, its pruner tune.pruner's. Real Optuna on a journal file in tmp."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from workbench.errors import UserError
from workbench.tune import study as tune_study

SPACE = {"train.learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
         "lora.r": CategoricalDistribution([4, 8, 16, 32]),
         "train.epochs": IntDistribution(1, 4),
         "train.class_weights": CategoricalDistribution(["none", "balanced"])}
FIRST = {"train.learning_rate": 5e-4, "lora.r": 32, "train.epochs": 2, "train.class_weights": "none"}


def test_trial_0_is_the_recipes_own_values_and_a_second_open_continues_the_study(tmp_path):
    path = tune_study.storage_path(tmp_path / "runs", "g1")
    study, created = tune_study.start_study(path, "g1", FIRST, metric="f1_macro", space=SPACE, seed=3, trials=6)
    assert created and path.exists() and study.direction == optuna.study.StudyDirection.MAXIMIZE
    trial = study.ask(fixed_distributions=SPACE)
    assert trial.number == 0 and trial.params == FIRST
    study.tell(trial, 0.4)

    again, created = tune_study.start_study(path, "g1", FIRST, metric="f1_macro", space=SPACE, seed=3, trials=6)
    assert not created  # continued: nothing enqueued again
    nxt = again.ask(fixed_distributions=SPACE)
    assert nxt.number == 1 and again.trials[0].value == 0.4
    again.tell(nxt, 0.5)
    assert [t.state.name for t in tune_study.open_study(path, "g1").trials] == ["COMPLETE", "COMPLETE"]


def test_direction_from_the_metric_and_a_continued_study_keeps_it(tmp_path):
    path = tune_study.storage_path(tmp_path, "g2")
    assert tune_study.metric_name("train.best_metric", "loss") == "loss"
    study, _ = tune_study.start_study(path, "g2", FIRST, metric="loss", space=SPACE)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    with pytest.raises(UserError, match="minimizes its metric; f1_macro is to maximize"):
        tune_study.open_study(path, "g2", metric="f1_macro")


def test_pruners_by_name_and_an_unknown_one_refused():
    assert isinstance(tune_study.make_pruner("median"), optuna.pruners.MedianPruner)
    assert isinstance(tune_study.make_pruner("hyperband", 4.0), optuna.pruners.HyperbandPruner)
    assert isinstance(tune_study.make_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(UserError, match="expected one of median, hyperband, none"):
        tune_study.make_pruner("asha")


def test_the_same_seed_draws_the_same_trials_and_workers_differ(tmp_path):
    def draws(name: str, worker: int) -> list[float]:
        s = tune_study.open_study(tmp_path / f"{name}.journal", name, metric="loss", seed=7, worker=worker)
        return [s.ask(fixed_distributions=SPACE).params["train.learning_rate"] for _ in range(3)]
    assert draws("a", 0) == draws("b", 0) != draws("c", 1)


def test_a_continued_study_keeps_its_space_and_refuses_a_changed_list_in_one_line(tmp_path):
    """`tune --group G --set lora.r=12` adds 12 to lora.r's list; Optuna refuses a changed categorical
    list for a name the study has seen (every worker crashed). The study's first space is its own: a space
    that differs is refused in one line naming the knob, the study's choices and --group NEW; the same
    space (a recipe value already among the choices) continues, and the workers can still ask."""
    from workbench.tune.worker import space_of

    path = tune_study.storage_path(tmp_path, "g")
    study, _ = tune_study.start_study(path, "g", FIRST, metric="f1_macro", space=SPACE)
    study.tell(study.ask(fixed_distributions=space_of(study)), 0.4)

    widened = {**SPACE, "lora.r": CategoricalDistribution([4, 8, 16, 32, 12])}
    with pytest.raises(UserError) as e:
        tune_study.start_study(path, "g", {**FIRST, "lora.r": 12}, metric="f1_macro", space=widened)
    assert str(e.value) == ("tune study g draws lora.r from 4, 8, 16, 32; this tune's space draws it from "
                            "4, 8, 16, 32, 12: a study keeps the space it started with (keep lora.r one of "
                            "4, 8, 16, 32, or start a new study with --group NEW)")
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="tune study g draws train.epochs from 1..4; this tune's space does not "
                                        "search it"):
        tune_study.start_study(path, "g", FIRST, metric="f1_macro",
                               space={k: d for k, d in SPACE.items() if k != "train.epochs"})

    again, created = tune_study.start_study(path, "g", {**FIRST, "lora.r": 16}, metric="f1_macro", space=SPACE)
    assert not created and space_of(again) == SPACE
    nxt = again.ask(fixed_distributions=space_of(again))  # raised "does not support dynamic value space"
    assert nxt.number == 1 and nxt.params["lora.r"] in (4, 8, 16, 32)


def test_a_continued_study_draws_new_configurations_not_the_ones_it_ran(tmp_path):
    """Each `tune` starts workers 0..K-1; seeded by tune.seed + worker alone, a continued study's random
    start-up draws repeated the earlier invocation's (the same trials run on the GPU again). The sampler's
    seed mixes in the trials the study already holds."""
    path = tmp_path / "c.journal"

    def draws(n: int) -> list[float]:
        s = tune_study.open_study(path, "c", metric="loss", seed=7, trials=20)
        out = []
        for _ in range(n):
            trial = s.ask(fixed_distributions=SPACE)
            s.tell(trial, 0.5)
            out.append(trial.params["train.learning_rate"])
        return out

    first = draws(2)
    later = draws(2)  # the same worker 0 of a second `tune --group c`
    assert not set(later) & set(first), (first, later)


def test_hyperbands_largest_resource_is_the_recipes_epochs_kept_in_the_study(tmp_path):
    """Each trial's training process builds its own pruner (trial_in); with max_resource "auto" each took
    the longest trial finished when it first pruned, so trials fell in brackets of different sizes. The
    study keeps the recipe's epochs at creation and every process builds the same Hyperband from it."""
    path = tune_study.storage_path(tmp_path, "h")
    study, _ = tune_study.start_study(path, "h", FIRST, metric="loss", space=SPACE, pruner="hyperband", epochs=9.0)
    done = study.ask(fixed_distributions=SPACE)
    for epoch in (1, 2):
        done.report(0.5, epoch)
    study.tell(done, 0.5)  # with "auto" a process pruning now would take 3 as the largest resource
    running = study.ask(fixed_distributions=SPACE)
    judged = tune_study.trial_in(path, "h", running.number).study.pruner
    assert isinstance(judged, optuna.pruners.HyperbandPruner)
    judged.prune(study, study.trials[running.number])  # builds its brackets from the resource it was given
    assert judged._max_resource == 9 and judged._n_brackets == 3  # floor(log3(9 / 1)) + 1


def test_a_continued_study_refuses_another_metric_in_one_line(tmp_path):
    """The workers judge trials by the metric the study keeps; continuing an f1_macro study with
    tune.metric = accuracy (the same direction) named accuracy in the closing line and the tuned file's
    header for an f1_macro value."""
    path = tune_study.storage_path(tmp_path, "m")
    tune_study.start_study(path, "m", FIRST, metric="f1_macro", space=SPACE)
    with pytest.raises(UserError) as e:
        tune_study.start_study(path, "m", FIRST, metric="accuracy", space=SPACE)
    assert str(e.value) == (f"tune study m ({path}) optimizes f1_macro; this tune's metric is accuracy: a study "
                            "keeps its metric (set tune.metric = 'f1_macro', or start a new study with --group NEW)")
    _, created = tune_study.start_study(path, "m", FIRST, metric="f1_macro", space=SPACE)
    assert not created
