"""Curves of several runs, for `workbench curves` and the Compare screen's Curves tab: a training
metric of the store's steps table (loss, lr, grad_norm, samples_per_s, tokens_per_s) or an aggregate
metric of the epoch evaluations (`eval:METRIC`, e.g. eval:f1_micro, eval:loss), per run over step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.actions.refs import resolve_run
from workbench.errors import UserError
from workbench.store import read
from workbench.store.db import connect
from workbench.wording import short_names

EVAL_PREFIX = "eval:"  # `eval:f1_micro`: an aggregate of the epoch evaluations, not a steps column


@dataclass(frozen=True)
class Curve:
    """One run's series: `name` its short name (the legend), `points` (step, value) in order."""

    run_id: str
    name: str
    points: list[tuple[int, float]]


@dataclass(frozen=True)
class Curves:
    """`metric` of each run on `split` (the split counts for eval: metrics only), one Curve per run in
    the order given; `available` every metric these runs have (steps columns, then eval:METRIC)."""

    metric: str
    split: str
    curves: list[Curve]
    available: list[str]

    @property
    def missing(self) -> list[str]:
        """The runs with no value of the metric (an evaluation run has no steps; a run may have no epoch
        evaluation yet)."""
        return [c.run_id for c in self.curves if not c.points]


def available_metrics(con, run_ids: list[str], split: str = "validation") -> list[str]:
    """The metrics `read_curves` can draw for these runs: the steps columns any of them has, then each
    aggregate of their epoch evaluations on `split` as eval:METRIC."""
    steps, evals = read.curve_metrics(con, run_ids, split)
    return [*steps, *(EVAL_PREFIX + m for m in evals)]


def read_curves(con, run_ids: list[str], metric: str = "loss", split: str = "validation") -> Curves:
    """`metric`'s curve of each run (ids as stored) through an open connection (the app's own); a metric
    none of them has is refused in one line naming those they have."""
    available = available_metrics(con, run_ids, split)
    if not available:
        raise UserError(f"--metric {metric}: these runs have no training steps and no epoch evaluation on the "
                        f"{split} split")
    if metric not in available:
        where = f" on the {split} split" if metric.startswith(EVAL_PREFIX) else ""
        raise UserError(f"--metric {metric}: none of these runs has it{where}; they have {', '.join(available)}")
    if metric.startswith(EVAL_PREFIX):
        series = read.epoch_eval_curves(con, run_ids, metric[len(EVAL_PREFIX):], split)
    else:
        series = read.step_curves(con, run_ids, metric)
    names = short_names(run_ids)
    return Curves(metric, split, [Curve(rid, names[rid], series[rid]) for rid in run_ids], available)


def curves(store: Path, refs: list[str], metric: str = "loss", split: str = "validation",
           *, read_only: bool = True) -> Curves:
    """The runs `refs` name (ids, unique prefixes or suffixes, 'last'; each once), `metric` of each."""
    with connect(store, read_only=read_only) as con:
        run_ids = list(dict.fromkeys(resolve_run(con, ref) for ref in refs))
        return read_curves(con, run_ids, metric, split)
