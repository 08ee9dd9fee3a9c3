"""The one door to a tune study's Optuna storage (issue 30; docs/architecture.md "Tune").

A study is one tune group: its name is the group's, its storage one journal file,
`<run root>/.tune/<group>.journal` (a file lock that works on a shared file system without a database
server, so workers on several nodes share it). Every process that touches a study opens it here: the
`tune` command creating or continuing it, each worker asking and telling trials, and the training
process reporting its epochs to its trial (train/prune.py), so all of them judge with the same sampler
seed, pruner and direction.

Imports optuna at module level: only tune's own modules and a trial's training process import this."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from workbench.errors import UserError
from workbench.recipe.metric_names import LOWER_IS_BETTER
from workbench.tune.paths import TUNE_DIR, storage_path  # noqa: F401 - the study's door names its paths too

PRUNERS = ("median", "hyperband", "none")
DEFAULT_METRIC = "train.best_metric"

# TPE samples at random for its first trials, then models the good and the bad ones. Optuna's 10 would
# leave nothing to model in the 12-trial budgets tune is meant for: a third of the budget, 2 to 10.
TPE_STARTUP_MAX = 10
# The median pruner judges a trial against the trials before it only once this many have reported
# (Optuna's default): earlier, one lucky or unlucky first trial would set the bar for all.
MEDIAN_STARTUP_TRIALS = 5

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI prints one line per trial, not Optuna's


def storage(path: Path) -> JournalStorage:
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def metric_name(metric: str, best_metric: str) -> str:
    """The evaluation aggregate a study optimizes: tune.metric, where empty (or `train.best_metric`) stands
    for the recipe's own."""
    return best_metric if metric in ("", DEFAULT_METRIC) else metric


def direction(metric: str) -> Literal["minimize", "maximize"]:
    """Which way the metric is better, as train.best_metric's checkpoint and eval.targets judge it
    (recipe/metric_names.py): minimize a loss-like metric, maximize the others."""
    return "minimize" if metric in LOWER_IS_BETTER else "maximize"


def make_pruner(kind: str, epochs: float | None = None) -> optuna.pruners.BasePruner:
    """tune.pruner as Optuna's pruner; steps are epochs (a trial reports each epoch's validation metric).
    `epochs`: the trials' epochs (the study keeps the recipe's; tune/space.py never searches epochs under a
    pruner), Hyperband's largest resource."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=0)
    if kind == "hyperband":
        # Resources are epochs, up to every trial's epochs. Given, not "auto": Optuna's "auto" takes the
        # longest finished trial the first time a process prunes, and each trial's training process builds
        # its own pruner, so brackets would differ from trial to trial as the study grows.
        if epochs is None:
            raise UserError("tune.pruner = 'hyperband' needs the trials' epochs, kept in the study when it is "
                            "created: start a new study with --group NEW")
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, round(epochs)), reduction_factor=3)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"tune.pruner = {kind!r}: expected one of {', '.join(PRUNERS)}")


def make_sampler(seed: int, trials: int, worker: int = 0, held: int = 0) -> optuna.samplers.TPESampler:
    """TPE seeded by tune.seed, the parallel worker's index (the same seed would make the workers draw the
    same trials) and the trials the study `held` when the worker opened it (each `tune` starts workers
    0..K-1: a continued study would draw again, in TPE's random start-up, the trials it already ran); with
    the constant liar so that workers do not all pick the point the running trials already try. The three
    are mixed (numpy's SeedSequence), so no two (worker, held) pairs of one study share a seed."""
    startup = max(2, min(TPE_STARTUP_MAX, trials // 3))
    mixed = int(np.random.SeedSequence([seed, worker, held]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=mixed, n_startup_trials=startup, multivariate=True, constant_liar=True)


def open_study(path: Path, group: str, *, pruner: str | None = None, seed: int = 0, trials: int = 20,
               worker: int = 0, metric: str | None = None, epochs: float | None = None) -> optuna.Study:
    """The study `group` in the journal at `path`, created when `metric` is given and it is not there
    (with `metric`'s direction, and `epochs`, the recipe's, kept as the pruner's clock); an existing one must
    optimize the same metric. `pruner` None: the study's own (the last `tune` of the group set it), as a
    trial's training process judges by it."""
    return _open(storage(path), path, group, pruner=pruner, seed=seed, trials=trials, worker=worker, metric=metric,
                 epochs=epochs)


def _open(store: JournalStorage, path: Path, group: str, *, pruner: str | None, seed: int, trials: int, worker: int,
          metric: str | None, epochs: float | None = None) -> optuna.Study:
    sampler = make_sampler(seed, trials, worker)  # a new study holds no trials; a loaded one is reseeded below
    if group in [s.study_name for s in optuna.study.get_all_study_summaries(store)]:
        study = optuna.load_study(study_name=group, storage=store, sampler=sampler, pruner=optuna.pruners.NopPruner())
        study.sampler = make_sampler(seed, trials, worker, held=len(study.get_trials(deepcopy=False)))
        if metric is not None and study.direction.name.lower() != direction(metric):
            raise UserError(f"tune study {group} ({path}) {study.direction.name.lower()}s its metric; "
                            f"{metric} is to {direction(metric)}: use another --group for another metric")
        kept = study.user_attrs.get("metric")
        if metric is not None and kept != metric:  # the workers judge by the kept one; the closing line would not
            raise UserError(f"tune study {group} ({path}) optimizes {kept}; this tune's metric is {metric}: a study "
                            f"keeps its metric (set tune.metric = {kept!r}, or start a new study with --group NEW)")
    elif metric is None:
        raise UserError(f"{path}: no tune study {group} in it")
    else:
        study = optuna.create_study(study_name=group, storage=store, sampler=sampler, direction=direction(metric),
                                    load_if_exists=True)
        study.set_user_attr("metric", metric)
        if epochs is not None:
            study.set_user_attr("epochs", epochs)
    kind = pruner or study.user_attrs.get("pruner", "median")
    judge = make_pruner(kind, study.user_attrs.get("epochs"))  # a bad name refused before it is kept
    if study.user_attrs.get("pruner") != kind:
        study.set_user_attr("pruner", kind)
    study.pruner = judge
    return study


def trial_in(path: Path, group: str, number: int) -> optuna.trial.Trial:
    """Trial `number` of the study, to report to and ask whether to prune (a trial's training process)."""
    store = storage(path)
    study = _open(store, path, group, pruner=None, seed=0, trials=0, worker=0, metric=None)
    trial_id = store.get_trial_id_from_study_id_trial_number(store.get_study_id_from_name(group), number)
    return optuna.trial.Trial(study, trial_id)


def start_study(path: Path, group: str, first: Mapping[str, Any], *, metric: str,
                space: Mapping[str, BaseDistribution], pruner: str = "median", seed: int = 0,
                trials: int = 20, epochs: float | None = None) -> tuple[optuna.Study, bool]:
    """Create or continue the study `group` over `space`; a new one keeps `space` as its own and gets trial 0
    enqueued with `first`, the recipe's own values of the space's knobs (tune/space.py own_params), so the
    study is never worse than not tuning, and keeps `epochs`, the recipe's train.epochs (Hyperband's clock).
    A continued one must be given the space it keeps (keep_space). (study, created)."""
    study = open_study(path, group, pruner=pruner, seed=seed, trials=trials, metric=metric, epochs=epochs)
    keep_space(study, space)
    created = not study.trials
    if created:
        study.enqueue_trial(dict(first))
    return study, created


def keep_space(study: optuna.Study, space: Mapping[str, BaseDistribution]) -> None:
    """Keep `space` in the study, where every worker reads it (tune/worker.py space_of). A study's space is
    the one it started with: Optuna refuses another list of values for a knob its trials drew ("does not
    support dynamic value space"), and trials over other ranges would not compare. So a continued study
    given a space that differs in any knob (another list, range or scale, a knob added or left out) is
    refused, naming the first such knob; the same space continues (a recipe value already among a list's
    values leaves the list as it is)."""
    kept = study.user_attrs.get("space")
    if not isinstance(kept, dict) or not kept:
        study.set_user_attr("space", {k: distribution_to_json(d) for k, d in space.items()})
        return
    old = {k: json_to_distribution(text) for k, text in kept.items()}
    for knob in [*old, *(k for k in space if k not in old)]:
        was, now = old.get(knob), space.get(knob)
        if was == now:
            continue
        if was is None:
            said, hint = f"does not search {knob}", f"leave {knob} out"
        elif isinstance(was, CategoricalDistribution):
            said, hint = f"draws {knob} from {_drawn(was)}", f"keep {knob} one of {_drawn(was)}"
        else:
            said, hint = f"draws {knob} from {_drawn(was)}", f"search {knob} from {_drawn(was)} again"
        given = "does not search it" if now is None else f"draws {'it' if was is not None else knob} from {_drawn(now)}"
        raise UserError(f"tune study {study.study_name} {said}; this tune's space {given}: a study keeps the space "
                        f"it started with ({hint}, or start a new study with --group NEW)")


def _drawn(dist: BaseDistribution) -> str:
    """`4, 8, 16, 32` (a list), `1..4` (a range), `1e-05..0.005 on a log scale`."""
    if isinstance(dist, CategoricalDistribution):
        return ", ".join(str(c) for c in dist.choices)
    assert isinstance(dist, (FloatDistribution, IntDistribution)), dist  # the kinds tune/space.py makes
    return f"{dist.low:g}..{dist.high:g}" + (" on a log scale" if dist.log else "")
