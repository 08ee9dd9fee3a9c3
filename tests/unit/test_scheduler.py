"""train.scheduler = "reduce_lr_on_plateau" with its own knobs: the Trainer's arguments carry
train.plateau_factor / train.plateau_patience, and the real scheduler they build acts when the
recipe says (torch's own defaults, factor 0.1 and patience 10, never acted within a recipe)."""

import pytest

from workbench.recipe import recipe_from_dict
from workbench.recipe.sections import view_of

pytest.importorskip("torch")


def _values(**train):
    raw = {"model": {"source": "tiny:bert"}, "data": {"train_file": "x.csv", "labels": {"a": "a"}},
           "train": {"scheduler": "reduce_lr_on_plateau", **train}}
    return recipe_from_dict(raw).values


def _lrs(values, metrics, tmp_path):
    import torch
    from transformers import get_scheduler

    from workbench.train.trainer import training_arguments

    args = training_arguments(view_of(values), tmp_path)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_scheduler(args.lr_scheduler_type, opt, scheduler_specific_kwargs=args.lr_scheduler_kwargs)
    out = []
    for m in metrics:  # the Trainer steps it with best_metric after each evaluation
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_plateau_factor_and_patience_reach_the_scheduler(tmp_path):
    # patience 1: the first evaluation sets the best, the 2nd is bad (1 <= patience), the 3rd drops it
    assert _lrs(_values(plateau_factor=0.5, plateau_patience=1), [1.0, 1.0, 1.0, 1.0, 1.0], tmp_path) == \
        [1.0, 1.0, 0.5, 0.5, 0.25]


def test_a_higher_is_better_metric_is_watched_as_such(tmp_path):
    # f1 rising every evaluation is progress: no drop; with mode "min" it would halve
    assert _lrs(_values(best_metric="f1_micro", plateau_patience=0), [0.1, 0.2, 0.3, 0.4], tmp_path) == [1.0] * 4
    assert _lrs(_values(best_metric="loss", plateau_patience=0), [0.1, 0.2, 0.3, 0.4], tmp_path) == \
        [1.0, 0.5, 0.25, 0.125]


def test_other_schedules_get_no_plateau_arguments(tmp_path):
    from workbench.train.trainer import training_arguments

    values = {**_values(), "train.scheduler": "cosine"}
    assert not training_arguments(view_of(values), tmp_path).lr_scheduler_kwargs


def test_the_encoder_recipe_keeps_the_source_projects_plateau():
    from pathlib import Path

    from workbench.recipe import load_recipe

    r = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "encoder_multilabel.toml")
    assert (r["train.scheduler"], r["train.plateau_factor"], r["train.plateau_patience"]) == \
        ("reduce_lr_on_plateau", 0.5, 3)
