"""A fixed tune study beside a store (issue 30 item 4's `compare --group` and the app's Sweep tab): trial run
folders of one group written as tools/sample_store.py writes runs and ingested by the real ingestion, and
the study's real Optuna journal (`<run root>/.tune/<group>.journal`, through workbench/tune/study.py) telling
each trial's state and value, the tuned validation f1_macro its run recorded. Five trials: three completed,
one pruned, one failed; `running=True` adds a sixth still running (its run mid-training).

    python -m tools.sample_study /tmp/sample/runs.duckdb
"""

from __future__ import annotations

import sys
from pathlib import Path

GROUP = "tune-demo"
METRIC = "f1_macro"
# (learning rate, LoRA r, quality of the run, end status): trial 0 is the recipe's own values
TRIALS = [(3e-3, 16, 0.80, "completed"), (1e-3, 8, 0.74, "completed"), (5e-3, 32, 0.86, "completed"),
          (2e-4, 4, 0.50, "pruned"), (1e-2, 16, 0.40, "failed")]
RUNNING = (7e-4, 32, 0.70)


def run_id(number: int) -> str:
    return f"tune_demo-20260928-1000{number:02d}-{number:04d}"


def space():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return {"train.learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
            "lora.r": CategoricalDistribution([4, 8, 16, 32])}


def build_sample_study(store: Path, *, running: bool = False, group: str = GROUP) -> Path:
    """The study `group` beside `store`: its trials' runs ingested, its journal written. Returns the journal."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from tools.sample_store import T0, write_run
    from workbench.store.db import connect, runs_root
    from workbench.store.ingest import ingest_run
    from workbench.tune import study as tune_study

    root = runs_root(store)
    path = tune_study.storage_path(root, group)
    study = tune_study.open_study(path, group, metric=METRIC)
    dists = space()
    for number, (lr, r, quality, end) in enumerate(TRIALS):
        run_dir = write_run(root, run_id(number), lr=lr, r=r, group=group, quality=quality, end=end,
                            start=T0 + 7 * 86_400 + 600 * number,
                            error={"pruned": "pruned by the median pruner at epoch 2",
                                   "failed": "RuntimeError: CUDA out of memory"}.get(end))
        with connect(store) as con:
            ingest_run(con, run_dir)
            value = con.execute("SELECT value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = 'validation' "
                                "AND label = '(all)' AND metric = ?", [run_dir.name, METRIC]).fetchone()
        state = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}[end]
        study.add_trial(create_trial(
            params={"train.learning_rate": lr, "lora.r": r}, distributions=dists, state=state,
            value=value[0] if state == TrialState.COMPLETE else None,
            intermediate_values={1: 0.3} if state == TrialState.PRUNED else None,
            user_attrs={"run_id": run_dir.name}))
    if running:
        start_running(store, group)
    assert isinstance(study, optuna.Study)
    return path


def start_running(store: Path, group: str = GROUP) -> int:
    """A trial asked now, its run mid-training (ingested): the study's running trial. Returns its number."""
    from tools.sample_store import T0, write_run
    from workbench.store.db import connect, runs_root
    from workbench.store.ingest import ingest_run
    from workbench.tune import study as tune_study

    root = runs_root(store)
    study = tune_study.open_study(tune_study.storage_path(root, group), group)
    lr, r, _quality = RUNNING
    study.enqueue_trial({"train.learning_rate": lr, "lora.r": r})
    trial = study.ask(fixed_distributions=space())
    run_dir = write_run(root, run_id(trial.number), lr=lr, r=r, group=group, end=None, done_steps=120,
                        start=T0 + 7 * 86_400 + 600 * trial.number)
    trial.set_user_attr("run_id", run_dir.name)
    with connect(store) as con:
        ingest_run(con, run_dir)
    return trial.number


def finish_running(store: Path, number: int, value: float, group: str = GROUP) -> None:
    """Tell the study that trial `number` completed with `value` (what a tune worker does when its run ends)."""
    from workbench.store.db import runs_root
    from workbench.tune import study as tune_study

    study = tune_study.open_study(tune_study.storage_path(runs_root(store), group), group)
    study.tell(number, value)


if __name__ == "__main__":
    print(build_sample_study(Path(sys.argv[1]), running=True))
