"""SIGKILL the trainer at 11 points of one run, `workbench resume` it after each, and check that it
finishes with the same losses and metrics as an uninterrupted run of the same seed.

One run is killed again and again, each attempt further on (during load, between base evaluations,
at the first step, mid-epoch, mid-evaluation, mid-checkpoint-save twice, from outside mid-epoch,
during the tuned evaluation and while writing the adapter): eleven kills, twelve attempts. After
each kill the store shows the run failed, every event of the killed attempt is stored once and
nothing is stored twice; at the end the store rebuilt from the run folder equals the live one.

The kills are real SIGKILLs of the real trainer process: from inside at named points
(`WORKBENCH_KILL_AT`, workbench/train/faults.py: no handler runs, exactly as an OOM kill) where
timing them from outside would be luck (a checkpoint save takes milliseconds), and from outside
(the trainer held at a known step by `WORKBENCH_HOLD_AT`, then killed by the test).
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import events_of, q, run_dir_from_output, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# 120 rows: 96 train (6 steps of 16 an epoch, 3 epochs: 18 steps, a checkpoint at 6, 12 and 18)
# and 24 validation. Two checkpoints kept, as users keep the best and the last.
SHORT = ("--set", "train.epochs=3", "--set", "data.max_rows=120", "--set", "train.batch_size=16",
         "--set", "train.logging_steps=1", "--set", "train.save_total_limit=2")
TOLERANCE = 1e-6  # CPU, same seed, restored RNG and optimizer state: equal up to float printing

# (where the attempt dies, the step it started from, what the kill hits)
KILLS = [
    ("load", 0, "model weights loaded, nothing of the model recorded"),
    ("base_eval#1", 0, "right after the base evaluation was recorded"),
    ("step:1", 0, "the first optimizer step"),
    ("step:4", 0, "mid-epoch 1, no checkpoint yet"),
    ("epoch_eval#1", 0, "inside the first epoch's evaluation"),
    ("checkpoint_save#1", 0, "checkpoint-6 half written (weights, no optimizer or trainer state)"),
    ("outside", 0, "SIGKILL from outside after step 9 (mid-epoch 2; checkpoint-6 written again)"),
    ("checkpoint_save#1", 6, "checkpoint-12 half written; checkpoint-6 is the last complete one"),
    ("epoch_eval#2", 6, "inside the epoch-3 evaluation, after checkpoint-12"),
    ("tuned_eval#1", 12, "during the tuned evaluation, after training ended"),
    ("save", 18, "writing the final adapter"),
]
STARTS = [start for _, start, _ in KILLS] + [18]  # attempt n+1 starts from STARTS[n]


def attempt_events(run_dir):
    """The events of the latest attempt (from its start event on)."""
    events = events_of(run_dir)
    last_start = max(i for i, e in enumerate(events) if e["type"] == "start")
    return events[last_start:]


def assert_store_consistent(store, run_id, run_dir):
    """Each event of the latest attempt is stored once; logs of every attempt are all there once;
    no step and no evaluation is stored twice."""
    events = events_of(run_dir)
    assert [e["seq"] for e in events] == list(range(len(events)))
    stored = {s for (s,) in q(store, """SELECT seq FROM steps WHERE run_id = $1 UNION ALL SELECT DISTINCT seq FROM evals
                                         WHERE run_id = $1 UNION ALL SELECT seq FROM artifacts WHERE run_id = $1
                                         UNION ALL SELECT seq FROM logs WHERE run_id = $1""", [run_id])}
    kinds = ("step", "eval", "log", "artifact", "checkpoint")
    assert {e["seq"] for e in attempt_events(run_dir) if e["type"] in kinds} <= stored
    logs = q(store, "SELECT seq FROM logs WHERE run_id = ? ORDER BY seq", [run_id])
    assert [s for (s,) in logs] == [e["seq"] for e in events if e["type"] == "log"]
    assert q(store, "SELECT count(*) - count(DISTINCT step) FROM steps WHERE run_id = ?", [run_id])[0][0] == 0
    assert q(store, """SELECT count(*) FROM (SELECT phase, split, step, label, metric FROM evals WHERE run_id = ?
                       GROUP BY ALL HAVING count(*) > 1)""", [run_id])[0][0] == 0
    assert q(store, "SELECT last_seq FROM runs WHERE run_id = ?", [run_id])[0][0] == events[-1]["seq"]


def curves(store, run_id):
    steps = q(store, "SELECT step, loss FROM steps WHERE run_id = ? AND loss IS NOT NULL ORDER BY step", [run_id])
    evals = q(store, """SELECT phase, split, step, label, metric, value FROM evals WHERE run_id = ?
                        ORDER BY phase, split, step, label, metric""", [run_id])
    return steps, evals


def test_killed_at_eleven_points_resumes_to_the_uninterrupted_result(cli, cli_env, tmp_path):
    store = tmp_path / "runs.duckdb"
    ref = cli("run", str(DEMO_RECIPE), "--detach", *SHORT)
    assert ref.returncode == 0, ref.stderr
    ref_dir = run_dir_from_output(ref.stdout, tmp_path)

    first = cli("run", str(DEMO_RECIPE), "--quiet", *SHORT, env={"WORKBENCH_KILL_AT": KILLS[0][0]}, timeout=300)
    assert first.returncode == 1, first.stdout + first.stderr
    run_dir = run_dir_from_output(first.stdout, tmp_path)
    run_id = run_dir.name
    for n, (point, start, what) in enumerate(KILLS):
        if n > 0 and point != "outside":
            res = cli("resume", run_id, "--quiet", env={"WORKBENCH_KILL_AT": point}, timeout=300)
            assert res.returncode == 1, f"kill {n} ({what}): {res.stdout}{res.stderr}"
        elif point == "outside":
            starts = sum(e["type"] == "start" for e in events_of(run_dir))
            # held at step 10's end (step 9 recorded, checkpoint-12 not begun): a fast tiny model
            # would otherwise race past checkpoint-12 between the poll and the kill
            res = cli("resume", run_id, "--detach", env={"WORKBENCH_HOLD_AT": "step:10"})
            assert res.returncode == 0, res.stdout + res.stderr
            wait_for(lambda starts=starts: sum(e["type"] == "start" for e in events_of(run_dir)) > starts and any(
                e["type"] == "step" and e["step"] >= 9 for e in attempt_events(run_dir)), 240, "step 9")
            os.kill(attempt_events(run_dir)[0]["pid"], signal.SIGKILL)
            res = cli("attach", run_id, "--quiet", timeout=120)
            assert res.returncode == 1, f"kill {n} ({what}): {res.stdout}{res.stderr}"
        status, error, attempts = q(store, "SELECT status, error, attempts FROM runs WHERE run_id = ?", [run_id])[0]
        assert status == "failed" and "SIGKILL" in error, (what, status, error)
        assert attempts == n + 1, what
        began = attempt_events(run_dir)[0]
        assert began.get("attempt") == n + 1 and (began.get("resumed") or {}).get("step", 0) == start, what
        assert not any(e["type"] == "end" for e in attempt_events(run_dir)), what
        assert_store_consistent(store, run_id, run_dir)
        complete = [int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("checkpoint-*")
                    if (p / "trainer_state.json").exists()]
        assert max([0] + complete) == STARTS[n + 1], f"after kill {n} ({what}): checkpoints {complete}"

    done = cli("resume", run_id, "--quiet", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming" in done.stdout
    assert cli("attach", ref_dir.name, "--quiet", timeout=300).returncode == 0  # the reference, ended or followed to its end

    status, error, attempts, ended = q(store, "SELECT status, error, attempts, ended_at FROM runs WHERE run_id = ?",
                                       [run_id])[0]
    assert (status, error, attempts) == ("completed", None, len(KILLS) + 1) and ended is not None
    assert_store_consistent(store, run_id, run_dir)
    notes = [e["message"] for e in events_of(run_dir) if e["type"] == "log" and e["message"].startswith("resuming")]
    assert len(notes) == len(KILLS)
    assert "removed incomplete checkpoint-6" in notes[5] and "removed incomplete checkpoint-12" in notes[7]
    assert "base evaluation kept" not in notes[0] and "base evaluation kept for validation" in notes[1]

    (steps, evals), (ref_steps, ref_evals) = curves(store, run_id), curves(store, ref_dir.name)
    assert [s for s, _ in steps] == list(range(1, 19)) == [s for s, _ in ref_steps]
    for (s, loss), (_, ref_loss) in zip(steps, ref_steps):
        assert abs(loss - ref_loss) <= TOLERANCE, f"step {s}: loss {loss} vs {ref_loss} uninterrupted"
    assert [e[:5] for e in evals] == [e[:5] for e in ref_evals]
    for e, r in zip(evals, ref_evals):
        assert abs(e[5] - r[5]) <= TOLERANCE, f"{e[:5]}: {e[5]} vs {r[5]} uninterrupted"
    # the tuned model learned (so equality above is not two untrained models agreeing)
    (base, tuned), = q(store, """SELECT base, tuned FROM base_vs_tuned WHERE run_id = ? AND split = 'validation'
                                  AND label = '(all)' AND metric = 'loss'""", [run_id])
    assert tuned < base
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()

    # the store rebuilt from the folders holds the same run
    rebuilt = tmp_path / "rebuilt.duckdb"
    res = cli("--store", str(rebuilt), "sync", timeout=120)
    assert res.returncode == 0, res.stderr
    assert curves(rebuilt, run_id) == curves(store, run_id)
    for sql in ("SELECT status, attempts, error FROM runs WHERE run_id = ?",
                "SELECT seq, kind, path FROM artifacts WHERE run_id = ? ORDER BY seq"):
        assert q(rebuilt, sql, [run_id]) == q(store, sql, [run_id])
