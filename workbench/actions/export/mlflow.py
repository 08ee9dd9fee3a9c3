"""`workbench export-mlflow RUN...`: finished runs into MLflow, from their run folders.

The same translation as a run logging live (`train.report_to = ["mlflow"]`):
workbench/tracking/mlflow_sink.py replays the run's events.jsonl. The MLflow run it made is
recorded in the run folder's annotations.json and in `runs.mlflow_run_id` / `runs.mlflow_uri`.

Two steps, so a front end says what became of each run as it goes: runs_to_send checks every run
first (all ended, mlflow installed), then send_run sends one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.actions.lifecycle import annotate
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.errors import UserError
from workbench.events import FINAL_STATUSES
from workbench.store import read
from workbench.store.db import connect
from workbench.tracking import mlflow_sink


@dataclass(frozen=True)
class SentToMlflow:
    """A run in MLflow: the workbench run, its MLflow run and experiment, where (the tracking URI,
    credentials taken out), the metric values and files sent, and `existed`: it was there already
    (nothing was sent)."""
    run_id: str
    mlflow_run: str
    experiment: str
    where: str
    metrics: int
    files: int
    existed: bool


def runs_to_send(store: Path, refs: Sequence[str]) -> list[tuple[str, str]]:
    """(run id, status) of each run `refs` names, once each, in order; UserError when mlflow is not
    installed or a run has not ended (a run logging live has train.report_to = ["mlflow"])."""
    mlflow_sink.check_installed()
    runs: list[tuple[str, str]] = []
    with connect(store, read_only=True) as con:
        for ref in refs:
            run_id = resolve_run(con, ref)
            status = read.run_status(con, run_id)
            if status not in FINAL_STATUSES:
                raise UserError(f"run {run_id} is {status}: export-mlflow sends runs that ended (a run logging "
                                "live has train.report_to = [\"mlflow\"])")
            if run_id not in [r for r, _ in runs]:
                runs.append((run_id, status))
    return runs


def send_run(store: Path, run_id: str, status: str, *, tracking_uri: str | None = None,
             experiment: str | None = None, again: bool = False) -> SentToMlflow:
    """Send one ended run (runs_to_send's) to MLflow and record where in its annotations; a run
    already there is left as it is unless `again`. UserError when MLflow refuses it."""
    from mlflow.exceptions import MlflowException

    from workbench.recipe import load_recipe
    from workbench.rundir import RECIPE

    run_dir = run_dir_of(store, run_id)
    values = load_recipe(run_dir / RECIPE).values
    try:
        sent = mlflow_sink.replay(run_dir, run_id, values, status, uri=tracking_uri, experiment=experiment,
                                  again=again)
    except (MlflowException, OSError) as e:  # an unreachable server, a refused experiment: the user's to fix
        raise UserError(f"MLflow refused {run_id}: {mlflow_sink.first_line(e)}") from None
    where = mlflow_sink.public_uri(sent.uri)
    record = {"run": sent.mlflow_run, "uri": where, "experiment": sent.experiment_id}
    annotate(store, [run_id], lambda a: a.__setitem__("mlflow", record))
    return SentToMlflow(run_id, sent.mlflow_run, sent.experiment_id, where, sent.metrics, sent.files, sent.existed)
