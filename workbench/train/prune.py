"""Pruning a `workbench tune` trial from inside its training process (issue 30).

Active only for a run whose run.json says `"tune": {"study", "storage", "trial"}` (the tune worker's
runs): at each epoch's validation evaluation the study's metric is reported to the trial, and when the
study's pruner says so training stops; the run sequence then ends the run `pruned` (train/main.py),
its error saying which pruner, at which epoch, on what value. A run whose trial the study has finished
(`workbench resume` of a cancelled trial's run) is not reported: it trains on unpruned, saying so.
Imported only for such a run (train/trainer.py), so other runs never load Optuna. The study is its journal file, not the store."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from workbench.events import EventWriter
from workbench.train.context import Pruned
from workbench.train.trainer import EndsRun
from workbench.tune import study as tune_study
from workbench.wording import fmt


class PruningCallback(EndsRun):
    """Reports each epoch evaluation's metric to the trial; stops training when the pruner prunes it.
    `ending` is then the run's Pruned, saying why."""

    def __init__(self, tune: dict[str, Any], writer: EventWriter, *, best_metric: str, world_size: int = 1):
        self.trial = tune_study.trial_in(Path(tune["storage"]), str(tune["study"]), int(tune["trial"]))
        self.study = self.trial.study
        self.metric = tune_study.metric_name(self.study.user_attrs.get("metric", tune_study.DEFAULT_METRIC),
                                             best_metric)
        self.pruner = self.study.user_attrs.get("pruner", "median")
        self.writer = writer
        self.world_size = world_size
        self._missing_said = False
        self._unreported = False  # the trial is finished (a resumed run of a stopped trial): report nothing

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        prune = False
        if state.is_world_process_zero:
            value = (metrics or {}).get(f"eval_{self.metric}")
            if value is None:
                if not self._missing_said:  # e.g. a generative task's f1, scored by generation after training
                    self._missing_said = True
                    self.writer.emit("log", level="warning", message=f"tune: the epoch evaluations have no "
                                     f"{self.metric}; this trial is not pruned")
            elif self._reports():
                epoch = max(1, round(state.epoch or 0))
                try:
                    self.trial.report(float(value), epoch)
                except UpdateFinishedTrialError:  # finished since _reports looked (another process told it)
                    self._train_unpruned(self._state())
                if not self._unreported and self.trial.should_prune():
                    prune = True
                    frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == self.trial.number)
                    self.ending = Pruned(why_pruned(self.pruner, self.metric, self.study, frozen))
        if self.world_size > 1:  # every rank stops at the same step, or the others wait at the next collective
            prune = _broadcast(prune, args.device)
        if prune:
            if self.ending is None:  # a rank > 0 stops as rank 0 says; only rank 0 writes the end
                self.ending = Pruned(f"pruned by the {self.pruner} pruner")
            control.should_training_stop = True
            control.should_save = False

    def _reports(self) -> bool:
        """Whether this epoch is reported: not once the trial is finished. `workbench resume` of a cancelled
        or failed trial's run keeps run.json's `tune`, but the study told that trial FAIL when its run
        stopped, and Optuna refuses to update a finished trial: the run trains on as a plain run."""
        if not self._unreported and (state := self._state()).is_finished():
            self._train_unpruned(state)
        return not self._unreported

    def _state(self) -> TrialState:
        return next(t.state for t in self.study.get_trials(deepcopy=False) if t.number == self.trial.number)

    def _train_unpruned(self, state: TrialState) -> None:
        self._unreported = True
        told = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned"}.get(state, "failed")
        self.writer.emit("log", level="warning", message=f"tune: trial {self.trial.number} of study "
                         f"{self.study.study_name} is {told} already (this run was resumed after the trial ended); "
                         "it trains on without pruning")


def why_pruned(pruner: str, metric: str, study: optuna.Study, trial: FrozenTrial) -> str:
    """Why `pruner` stopped `trial` at its last epoch, quoting what it compared. The median pruner is
    Optuna's percentile pruner at 50 (optuna/pruners/_percentile.py): the trial's best value so far against
    the median, at that epoch, of the COMPLETE trials alone (NaNs left out, as nanpercentile leaves them).
    `pruned by the median pruner at epoch 2: f1_macro 0.31 below the median 0.45 of 5 completed trials at
    that epoch`. Hyperband's rungs have no one figure to quote: its reason names the pruner, epoch, value."""
    epoch = trial.last_step
    value = trial.intermediate_values[epoch] if epoch is not None else math.nan
    head = f"pruned by the {pruner} pruner at epoch {epoch}: {metric} {fmt(value)}"
    others = [v for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if (v := t.intermediate_values.get(epoch)) is not None and not math.isnan(v)] if epoch is not None else []
    if pruner != "median" or not others:
        return head
    maximize = study.direction == StudyDirection.MAXIMIZE
    own = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
    if not own:
        return f"{head}: no number at any epoch so far"
    best = max(own) if maximize else min(own)
    side = "below" if maximize else "above"
    bar = f"the median {fmt(statistics.median(others))} of {len(others)} completed trials at that epoch"
    if best == value:
        return f"{head} {side} {bar}"
    return f"{head}; its best so far, {fmt(best)}, is {side} {bar}"


def _broadcast(flag: bool, device) -> bool:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())
