"""A run's annotations (tags, notes, the archived mark, the MLflow run it was sent to): `annotate`,
which `workbench export-mlflow` records with, moved here from commands/lifecycle.py. (The branch
act-store moves the rest of commands/lifecycle.py into this module, with the same annotate.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.actions.refs import run_dir_of
from workbench.store import write
from workbench.store.db import connect


def annotate(store: Path, run_ids: list[str], change: Callable[[dict[str, Any]], object]) -> None:
    """Apply `change(annotations)` to each run's annotations.json, then to the store."""
    for run_id in run_ids:
        run_dir = run_dir_of(store, run_id, read_only=False)
        annotations = rundir.read_annotations(run_dir)
        change(annotations)
        rundir.write_annotations(run_dir, annotations)
        with connect(store) as con:
            write.write_annotations(con, run_id, annotations)
