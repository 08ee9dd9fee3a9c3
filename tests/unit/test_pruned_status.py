"""`pruned`: the end status of a `workbench tune` trial its pruner stopped (issue 30). The run statuses
live in one list (workbench/events.py), so the event reader, the store, `runs --status`, reckon and the
app all know it: an `end` whose status is pruned is stored as pruned, not read as failed."""

from __future__ import annotations

import json

from tests.unit.test_store import make_run, rid
from workbench import events
from workbench.events import read_events
from workbench.launch.follow import final_status
from workbench.rundir import events_file
from workbench.store.db import connect
from workbench.store.ingest import ingest_run

RUN = rid("pruned")


def test_an_end_event_pruned_ingests_as_pruned(tmp_path, demo_recipe):
    run_dir = make_run(tmp_path / "runs", RUN, demo_recipe, end=None)
    why = "pruned by the median pruner at epoch 1: f1_macro 0.1 below the median 0.4"
    with open(events_file(run_dir), "a") as f:
        f.write(json.dumps({"seq": 8, "t": 1_770_000_008.0, "type": "end", "status": "pruned", "error": why}) + "\n")
    with connect(tmp_path / "runs.duckdb") as con:
        res = ingest_run(con, run_dir)
        assert con.execute("SELECT status, error FROM runs").fetchall() == [("pruned", why)]
    assert res.status == "pruned"
    (end,) = [e for e in read_events(events_file(run_dir)).events if e.type == "end"]
    assert end.status == "pruned"


def test_an_unknown_end_status_says_pruned_among_the_statuses(tmp_path, demo_recipe):
    run_dir = make_run(tmp_path / "runs", RUN, demo_recipe, end=None)
    with open(events_file(run_dir), "a") as f:
        f.write(json.dumps({"seq": 8, "t": 1_770_000_008.0, "type": "end", "status": "prunned", "error": None}) + "\n")
    with connect(tmp_path / "runs.duckdb") as con:
        ingest_run(con, run_dir)
        ((status, error),) = con.execute("SELECT status, error FROM runs").fetchall()
    assert status == "failed" and "pruned" in error.split("none of ")[1], error


def test_a_pruned_end_is_final_and_the_lists_agree():
    assert final_status("pruned", {"exit": {"returncode": 3}}, False) == ("pruned", None)
    assert "pruned" in events.END_STATUSES and "pruned" in events.FINAL_STATUSES
    assert set(events.RUN_STATUSES) == {*events.UNFINISHED_STATUSES, *events.FINAL_STATUSES}
