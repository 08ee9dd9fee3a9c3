"""`workbench export-mlflow RUN...`: finished runs into MLflow, from their run folders.

The same translation as a run logging live (`train.report_to = ["mlflow"]`):
workbench/tracking/mlflow_sink.py replays the run's events.jsonl. The MLflow run it made is
recorded in the run folder's annotations.json and in `runs.mlflow_run_id` / `runs.mlflow_uri`.
"""

from __future__ import annotations

from workbench.actions.lifecycle import annotate
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.commands.common import store_of
from workbench.console import console
from workbench.errors import UserError
from workbench.events import END_STATUSES
from workbench.store import read
from workbench.store.db import connect
from workbench.tracking import mlflow_sink

ENDED = (*END_STATUSES, "cancelled")  # a stop or the scheduler ends a run cancelled


def main(args) -> int:
    mlflow_sink.check_installed()
    from mlflow.exceptions import MlflowException

    from workbench.recipe import load_recipe
    from workbench.rundir import RECIPE

    store = store_of(args)
    with connect(store, read_only=True) as con:
        runs = []
        for ref in args.runs:
            run_id = resolve_run(con, ref)
            status = read.run_status(con, run_id)
            if status not in ENDED:
                raise UserError(f"run {run_id} is {status}: export-mlflow sends runs that ended (a run logging "
                                "live has train.report_to = [\"mlflow\"])")
            if run_id not in [r for r, _ in runs]:
                runs.append((run_id, status))
    for run_id, status in runs:
        run_dir = run_dir_of(store, run_id)
        values = load_recipe(run_dir / RECIPE).values
        try:
            sent = mlflow_sink.replay(run_dir, run_id, values, status, uri=args.tracking_uri,
                                      experiment=args.experiment, again=args.again)
        except (MlflowException, OSError) as e:  # an unreachable server, a refused experiment: the user's to fix
            raise UserError(f"MLflow refused {run_id}: {mlflow_sink.first_line(e)}") from None
        where = mlflow_sink.public_uri(sent.uri)
        record = {"run": sent.mlflow_run, "uri": where, "experiment": sent.experiment_id}
        annotate(store, [run_id], lambda a, record=record: a.__setitem__("mlflow", record))
        if sent.existed:
            console.print(f"{run_id}: already in MLflow as run {sent.mlflow_run} at {where} (--again sends it anew)")
        else:
            console.print(f"{run_id}: MLflow run {sent.mlflow_run} in experiment {sent.experiment_id} at {where} "
                          f"({sent.metrics:,} metric values, {sent.files} files)")
    return 0
