"""train/prune.py, a tune trial's pruning callback in its training process (issue 30): it reports each
epoch's metric to the trial, and a resumed run of a trial the study has finished (a cancelled trial is
told FAIL; `workbench resume` keeps run.json's `tune`) trains on unpruned instead of failing on Optuna's
"cannot update a finished trial". Real Optuna on a journal in tmp; the Trainer's own state objects."""

from __future__ import annotations

import json

from optuna.trial import TrialState
from transformers import TrainerControl, TrainerState

from workbench.events import EventWriter
from workbench.train.prune import PruningCallback
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
