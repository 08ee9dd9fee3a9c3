"""`pruned`: the end status of a `workbench tune` trial its pruner stopped (issue 30). The run statuses
live in one list (workbench/events.py), so the event reader, the store, `runs --status`, reckon and the
app all know it: an `end` whose status is pruned is stored as pruned, not read as failed."""

from __future__ import annotations

import json

import pytest

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


def test_a_pruned_end_is_final():
    assert final_status("pruned", {"exit": {"returncode": 3}}, False) == ("pruned", None)
    assert "pruned" in events.END_STATUSES and "pruned" in events.FINAL_STATUSES


@pytest.mark.parametrize("status", events.RUN_STATUSES)
def test_every_status_has_its_colour_in_the_cli_and_the_app(status):
    """A status added to events.py's list without a style printed as plain text in `runs` and the app's
    run tables (both render console.status_text); pruned is not a failure and is not coloured as one."""
    from workbench.console import STATUS_STYLE, status_text
    from workbench.tui.widgets.run_tables import status_cell

    assert STATUS_STYLE.get(status), f"{status} has no style in console.STATUS_STYLE"
    assert str(status_text(status).style) == STATUS_STYLE[status]
    assert str(status_cell(status).style) == STATUS_STYLE[status]
    if status == "pruned":
        assert STATUS_STYLE["pruned"] != STATUS_STYLE["failed"]


def test_listing_runs_by_status_pruned_finds_the_pruned_run_alone(tmp_path, demo_recipe):
    """The action both `runs --status` and the app's filter call: pruned is a status it accepts and finds."""
    from workbench.actions.browse import list_runs

    pruned = make_run(tmp_path / "runs", RUN, demo_recipe, end="pruned")
    done = make_run(tmp_path / "runs", rid("done"), demo_recipe, end="completed")
    with connect(tmp_path / "runs.duckdb") as con:
        for run_dir in (pruned, done):
            ingest_run(con, run_dir)
    found = list_runs(tmp_path / "runs.duckdb", status="pruned")
    assert [(r["run_id"], r["status"]) for r in found.runs] == [(RUN, "pruned")]
