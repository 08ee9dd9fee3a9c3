"""train/prune.py, a tune trial's pruning callback in its training process (issue 30): it reports each
epoch's metric to the trial, and a resumed run of a trial the study has finished (a cancelled trial is
told FAIL; `workbench resume` keeps run.json's `tune`) trains on unpruned instead of failing on Optuna's
"cannot update a finished trial". Real Optuna on a journal in tmp; the Trainer's own state objects."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.trial import TrialState
from transformers import TrainerControl, TrainerState

from workbench.events import EventWriter
from workbench.train.prune import PruningCallback, why_pruned
from workbench.tune import study as tune_study

from .test_tune_study import FIRST, SPACE


def _logs(path) -> list[str]:
    return [e["message"] for e in map(json.loads, path.read_text().splitlines()) if e.get("type") == "log"]


def test_a_resumed_run_of_a_finished_trial_trains_unpruned_and_says_so_once(tmp_path):
    path = tune_study.storage_path(tmp_path, "g")
    study, _ = tune_study.start_study(path, "g", FIRST, metric="f1_macro", space=SPACE)
    cancelled, live = study.ask(fixed_distributions=SPACE), study.ask(fixed_distributions=SPACE)
    study.tell(cancelled, state=TrialState.FAIL)  # its run was stopped: the worker told FAIL
    events = tmp_path / "events.jsonl"
    with EventWriter(events) as writer:
        resumed = PruningCallback({"study": "g", "storage": str(path), "trial": cancelled.number}, writer,
                                  best_metric="f1_macro")
        running = PruningCallback({"study": "g", "storage": str(path), "trial": live.number}, writer,
                                  best_metric="f1_macro")
        for epoch in (1.0, 2.0):
            control = TrainerControl()
            resumed.on_evaluate(None, TrainerState(epoch=epoch), control, metrics={"eval_f1_macro": 0.3})
            assert not control.should_training_stop and resumed.ending is None
            running.on_evaluate(None, TrainerState(epoch=epoch), TrainerControl(), metrics={"eval_f1_macro": 0.3})
    assert _logs(events) == ["tune: trial 0 of study g is failed already (this run was resumed after the trial "
                             "ended); it trains on without pruning"]
    trials = tune_study.open_study(path, "g").get_trials()
    assert trials[cancelled.number].intermediate_values == {}
    assert trials[live.number].intermediate_values == {1: 0.3, 2: 0.3}  # a live trial is still reported to


def _study(direction: str, completed: list[float], others: list[float]) -> optuna.Study:
    """An in-memory study under tune's median pruner: trials completed with `completed` at epoch 2, and a
    pruned and a running trial with `others` there (Optuna's median pruner reads COMPLETE trials only)."""
    study = optuna.create_study(direction=direction, pruner=tune_study.make_pruner("median"))
    for v in completed:
        study.add_trial(optuna.trial.create_trial(value=v, intermediate_values={1: v, 2: v}))
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, intermediate_values={2: others[0]}))
    study.ask().report(others[1], 2)
    return study


@pytest.mark.parametrize("direction, reports, pruned, expected", [
    # its best so far (0.45 at epoch 1) is what Optuna compares, not its last value 0.42
    ("maximize", {1: 0.45, 2: 0.42}, True, "pruned by the median pruner at epoch 2: f1_macro 0.420; its best so far, "
     "0.450, is below the median 0.500 of 5 completed trials at that epoch"),
    ("maximize", {1: 0.3, 2: 0.42}, True, "pruned by the median pruner at epoch 2: f1_macro 0.420 below the median "
     "0.500 of 5 completed trials at that epoch"),
    ("maximize", {1: 0.55, 2: 0.42}, False, None),  # below the median now, but its best is above: kept
    ("minimize", {1: 0.52, 2: 0.6}, True, "pruned by the median pruner at epoch 2: f1_macro 0.600; its best so far, "
     "0.520, is above the median 0.500 of 5 completed trials at that epoch"),
])
def test_the_pruning_reason_quotes_what_optunas_median_pruner_compared(direction, reports, pruned, expected):
    """The reason took every other trial's value at the epoch (running, pruned and failed ones too) and the
    trial's last value; Optuna's percentile pruner compares the trial's best value so far with the median
    of the COMPLETE trials at that step. The reason must say what decided, and agree with the decision."""
    study = _study(direction, [0.3, 0.4, 0.5, 0.6, 0.7], [0.05, 0.1] if direction == "maximize" else [0.9, 0.95])
    trial = study.ask()
    for epoch, value in reports.items():
        trial.report(value, epoch)
    frozen = study.trials[trial.number]
    assert bool(study.pruner.prune(study, frozen)) is pruned  # Optuna's own decision
    if expected is not None:
        assert why_pruned("median", "f1_macro", study, frozen) == expected


def test_hyperbands_reason_names_no_median():
    study = _study("maximize", [0.3, 0.4, 0.5, 0.6, 0.7], [0.05, 0.1])
    trial = study.ask()
    trial.report(0.2, 1)
    assert why_pruned("hyperband", "f1_macro", study, study.trials[trial.number]) == (
        "pruned by the hyperband pruner at epoch 1: f1_macro 0.200")
