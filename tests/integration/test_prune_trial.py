"""A `workbench tune` trial pruned from inside its training process (issue 30, item 2): a real tiny run
whose run.json names its trial, in a study whose earlier trials reached a far lower validation loss at
every epoch, is stopped by the median pruner after its first epoch evaluation and ends `pruned` in the
store, its error naming pruner, epoch and value; the trial holds its reported epoch."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import events_of, wait_for
from workbench.launch import agent
from workbench.launch.run_folder import create_run
from workbench.recipe import load_recipe
from workbench.store.db import connect
from workbench.store.ingest import ingest_run
from workbench.tune import study as tune_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_trial_far_behind_the_earlier_ones_is_pruned_after_its_first_epoch(tmp_path):
    runs = tmp_path / "runs"
    journal = tune_study.storage_path(runs, "g")
    study = tune_study.open_study(journal, "g", metric="loss", pruner="median")
    for _ in range(tune_study.MEDIAN_STARTUP_TRIALS):  # the trials before: a loss of 0.001 at every epoch
        earlier = study.ask()
        for epoch in (1, 2, 3, 4):
            earlier.report(0.001, epoch)
        study.tell(earlier, 0.001)
    trial = study.ask()
    recipe = load_recipe(DEMO_RECIPE, ["train.epochs=4", "data.max_rows=200", "group=g"])
    run_dir = create_run(recipe, runs, meta={"tune": {"study": "g", "storage": str(journal), "trial": trial.number}})

    agent.start(run_dir)  # as a local run starts: the supervisor detached, its output in train.log
    wait_for(lambda: (run_dir / "exit.json").exists(), 240, "the trial to end")
    assert json.loads((run_dir / "exit.json").read_text())["returncode"] == 3, (run_dir / "train.log").read_text()

    with connect(tmp_path / "runs.duckdb") as con:
        ingest_run(con, run_dir)
        status, error = con.execute("SELECT status, error FROM runs").fetchone()
    assert status == "pruned", error
    assert error.startswith("pruned by the median pruner at epoch 1: loss ") and "above the median 0.001" in error
    epochs = [e["epoch"] for e in events_of(run_dir) if e["type"] == "eval" and e["phase"] == "epoch"]
    assert epochs == [1.0]  # one epoch of four ran
    assert not [e for e in events_of(run_dir) if e["type"] == "eval" and e["phase"] == "tuned"]
    reported = tune_study.open_study(journal, "g").trials[trial.number].intermediate_values
    assert list(reported) == [1]
