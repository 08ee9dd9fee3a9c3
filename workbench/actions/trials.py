"""A tune study's trials as `workbench compare --group G` and the app's Sweep tab show them (issue 30 item 4):
each trial ranked by the study's metric (best first, the direction the study keeps), its params and state,
the optimization history (each finished trial's value in trial order and the best so far) and Optuna's
parameter importances. Read from the study's journal (workbench/tune/study.py, the one door to it); a group
with no journal is no tune study (None). Optuna is imported only when a study is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# fANOVA fits a random forest: seeded, the importances printed are the same on every read
IMPORTANCE_SEED = 0
# Optuna's trial states as the CLI and the app say them (a run's `pruned` is the same word)
STATES = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


@dataclass(frozen=True)
class TrialRow:
    """One trial: its number, params (knob: value as text), value (None: it has none yet or never will),
    state (STATES) and the run that is the trial (None: none was created)."""

    number: int
    params: dict[str, str]
    value: float | None
    state: str
    run_id: str | None


@dataclass(frozen=True)
class Importances:
    """Optuna's parameter importances (knob: share, largest first; empty: none computed, `note` says why) and
    how many completed trials they rest on."""

    values: dict[str, float]
    trials: int
    note: str


@dataclass(frozen=True)
class StudyTrials:
    """A tune study: its group (= study name), journal, metric and direction; `ranked` every trial, the
    completed best first then the others by number; `history` (trial number, value, best so far) of the
    completed trials in trial order; `importances` (None: not asked for)."""

    group: str
    storage: Path
    metric: str
    direction: str  # "minimize" / "maximize"
    ranked: list[TrialRow]
    history: list[tuple[int, float, float]]
    importances: Importances | None

    @property
    def knobs(self) -> list[str]:
        """The knobs the trials drew, in the order they first appear."""
        return list(dict.fromkeys(k for t in self.ranked for k in t.params))

    def counts(self) -> dict[str, int]:
        """{state: trials}, in STATES's order, states no trial is in left out."""
        return {s: n for s in STATES.values() if (n := sum(t.state == s for t in self.ranked))}

    def compared_line(self, runs: int) -> str:
        """What `compare` says first of the study's runs (in place of a sweep's ranking by best_metric)."""
        return f"{runs} runs of tune study {self.group}: its trials ranked by {self.metric}, the study's metric"

    @property
    def best(self) -> TrialRow | None:
        return self.ranked[0] if self.ranked and self.ranked[0].state == "completed" else None


def study_storage(store: Path, group: str) -> Path | None:
    """The journal of tune study `group` beside the store's run folders; None when `group` is no tune study."""
    from workbench.store.db import runs_root
    from workbench.tune.paths import storage_path  # no Optuna: most groups are no study

    path = storage_path(runs_root(store), group)
    return path if path.is_file() else None


def read_trials(store: Path, group: str, *, importances: bool = True,
                known: Importances | None = None) -> StudyTrials | None:
    """The trials of tune study `group` (None: `group` is no tune study), with the parameter importances
    when `importances`: `known`, those of an earlier read, kept while the study holds as many completed trials
    (a completed trial stays completed: the same ones), as a live view re-reading it does."""
    path = study_storage(store, group)
    if path is None:
        return None
    from workbench.tune import study as tune_study  # imports optuna: a study's groups alone

    study = tune_study.open_study(path, group)
    trials = study.get_trials(deepcopy=False)
    lower = study.direction.name == "MINIMIZE"
    rows = [TrialRow(t.number, {k: _text(v) for k, v in t.params.items()},
                     t.value if t.state.name == "COMPLETE" else None, STATES.get(t.state.name, t.state.name.lower()),
                     t.user_attrs.get("run_id")) for t in trials]
    valued = [(r.value, r) for r in rows if r.value is not None]  # rows come in trial order
    done = [r for _v, r in sorted(valued, key=lambda vr: (vr[0] if lower else -vr[0], vr[1].number))]
    rest = [r for r in rows if r.value is None]
    history: list[tuple[int, float, float]] = []
    for value, r in valued:
        best = value if not history else (min if lower else max)(history[-1][2], value)
        history.append((r.number, value, best))
    metric = str(study.user_attrs.get("metric", "value"))
    return StudyTrials(group, path, metric, study.direction.name.lower(), done + rest, history,
                       None if not importances else known if known is not None and known.trials == len(done)
                       else _importances(study))


def _importances(study: Any) -> Importances:
    """Optuna's fANOVA importances, seeded; needs two or more completed trials whose params differ."""
    import optuna

    completed = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    n = len(completed)
    if n < 2:
        return Importances({}, n, f"no parameter importances: they need 2 or more completed trials, "
                                  f"this study has {n}")
    if len({tuple(sorted((k, repr(v)) for k, v in t.params.items())) for t in completed}) < 2:
        return Importances({}, n, f"no parameter importances: the {n} completed trials all drew the same values")
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
    values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    if not values:  # a conditional space: no knob every completed trial drew
        return Importances({}, n, f"no parameter importances: the {n} completed trials share no knob")
    note = f"parameter importances (fANOVA, seed {IMPORTANCE_SEED}) from the {n} completed trials"
    return Importances({k: float(v) for k, v in values.items()}, n, note)


def _text(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
