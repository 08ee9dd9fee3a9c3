"""`workbench runs --status pruned`: the trials a tune study's pruner stopped (issue 30), through the
real CLI; an unknown status is refused naming pruned among the statuses."""

from __future__ import annotations

import json

from tests.integration.runs import register, write_run_folder


def test_runs_status_pruned_lists_the_pruned_run(cli, tmp_path):
    store = tmp_path / "runs.duckdb"
    pruned = write_run_folder(tmp_path / "runs", "demo-20260101-120000-0001", end="pruned",
                              exit_record={"returncode": 3})
    done = write_run_folder(tmp_path / "runs", "demo-20260101-120000-0002", end="completed",
                            exit_record={"returncode": 0})
    for d in (pruned, done):
        register(store, d)
    res = cli("runs", "--status", "pruned", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert [r["run_id"] for r in json.loads(res.stdout)] == [pruned.name]
    res = cli("runs", "--status", "pruneed")
    assert res.returncode == 2 and "pruned" in res.stderr, res.stderr


def test_attach_to_a_trial_its_pruner_stops_exits_0(cli, tmp_path):
    """A pruned trial ended as its study meant it to (review L3): `attach` exits 0, as for completed."""
    run = write_run_folder(tmp_path / "runs", "demo-20260101-120000-0003", end="pruned",
                           exit_record={"returncode": 3})
    register(tmp_path / "runs.duckdb", run)  # recorded queued: attach follows it to its end
    res = cli("attach", run.name, "--quiet")
    assert "pruned" in res.stdout and res.returncode == 0, res.stdout + res.stderr
