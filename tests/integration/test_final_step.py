"""What a finished run says about its end, through the real CLI: its last step is logged (also
when logging_steps does not divide it, and when early stopping ends it before max_steps), `show`
and the monitor's state say that step, a completed run is at 100 %, and the tuned evaluation names
the epoch of the weights it scored (the best checkpoint, reloaded), not the last epoch trained."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import events_of, q, run_dir_from_output
from workbench.events import parse_event
from workbench.launch.watch import RunWatch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# 120 rows: 96 train, 6 steps of 16 an epoch, 18 in 3 epochs; logging every 5 steps (5, 10, 15: not 18, nor
# 12 where early stopping ends).
# Learning rate 0: the weights never move, every epoch's validation loss is the same, so the best
# checkpoint (train.best_metric = loss, the first of equals) is epoch 1's, at step 6.
FROZEN = ("--set", "train.epochs=3", "--set", "data.max_rows=120", "--set", "train.batch_size=16",
          "--set", "train.logging_steps=5", "--set", "train.learning_rate=0", "--set", "eval.base=false",
          "--set", "train.save_total_limit=3")


def finished(cli, tmp_path, *extra):
    r = cli("run", DEMO_RECIPE, *FROZEN, *extra, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    events = events_of(run_dir)
    watch = RunWatch(run_dir.name, run_dir=run_dir)
    watch.apply([parse_event(e) for e in events])
    return r.stdout, run_dir.name, events, watch


def tuned_eval(events):
    return next(e for e in events if e["type"] == "eval" and e["phase"] == "tuned" and e["split"] == "validation")


def test_a_completed_run_logs_its_last_step_and_names_the_tuned_weights_epoch(cli, tmp_path):
    out, run_id, events, watch = finished(cli, tmp_path)
    steps = [e for e in events if e["type"] == "step"]
    assert steps[-1]["step"] == steps[-1]["max_steps"] == 18, [e["step"] for e in steps]
    assert watch.status == "completed" and (watch.step, watch.max_steps, watch.progress) == (18, 18, 1.0)
    shown = cli("show", run_id).stdout
    assert re.search(r"last step\s+18\b", shown), shown
    assert q(tmp_path / "runs.duckdb", "SELECT max(step) FROM steps WHERE run_id = ?", [run_id]) == [(18,)]

    tuned = tuned_eval(events)
    assert (tuned["step"], tuned["epoch"]) == (6, 1.0), tuned
    assert "eval tuned (validation, the weights of epoch 1, step 6)" in " ".join(out.split()), out
    logs = " ".join(e["message"] for e in events if e["type"] == "log")
    assert "the best checkpoint (step 6, epoch 1)" in logs, logs


def test_a_run_stopped_early_logs_its_last_step_and_shows_complete(cli, tmp_path):
    # Patience 1: epoch 2 does not improve on epoch 1, so training stops after step 12 of 18.
    out, run_id, events, watch = finished(cli, tmp_path, "--set", "train.early_stopping_patience=1")
    steps = [e for e in events if e["type"] == "step"]
    summary = next(e for e in events if e["type"] == "summary")
    assert summary["train_steps"] == 12 and steps[-1]["step"] == 12, [e["step"] for e in steps]
    assert watch.status == "completed" and (watch.step, watch.progress) == (12, 1.0)
    assert re.search(r"last step\s+12\b", cli("show", run_id).stdout)
    assert (tuned_eval(events)["step"], tuned_eval(events)["epoch"]) == (6, 1.0)
