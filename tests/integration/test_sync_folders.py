"""`workbench sync` rebuilds a store from its run folders: a folder it cannot take as a run (a corrupt
run.json, a run id workbench never makes, a run.json naming another folder, a corrupt recipe.toml) is
skipped with one warning line naming it and why, and every other folder is ingested. Run ids never
become paths outside the run folders; an empty run reference matches no run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, workbench
from tests.integration.runs import q
from tests.unit.test_store import make_run
from workbench.store.db import connect


def run_id(i: int) -> str:
    return f"demo-20260101-1200{i:02d}-{i:04x}"


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "store" / "runs.duckdb"


def good_runs(store: Path, n: int) -> list[str]:
    ids = [run_id(i) for i in range(n)]
    for rid in ids:
        make_run(store.parent / "runs", rid, DEMO_RECIPE)
    return ids


def sync(store: Path):
    res = workbench("sync", store=store, timeout=300)
    assert "Traceback" not in res.stderr and "a bug in workbench" not in res.stderr, res.stderr
    return res


def warnings_of(res) -> list[str]:
    return [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("warning:")]


def stored_ids(store: Path) -> list[str]:
    return [r for (r,) in q(store, "SELECT run_id FROM runs ORDER BY run_id")]


BAD_RUN_JSON = {
    "not JSON": ('{"run_id": "demo-20260101-130000-beef", ', "run.json: not valid JSON (line 1, column 41"),
    "not an object": ("[1, 2]", "run.json: expected a JSON object"),
    "no run id": ('{"recipe_name": "demo"}', "run.json: no run_id"),
    "a path as run id": ('{"run_id": "../../../../tmp/x"}', "run.json: run_id '../../../../tmp/x' is not a run id"),
    "another folder's id": ('{"run_id": "demo-20260101-120001-0001"}',
                            "run.json: run_id 'demo-20260101-120001-0001' is not this folder's name"),
}


@pytest.mark.parametrize("case", list(BAD_RUN_JSON))
def test_one_bad_folder_is_skipped_with_one_line_and_the_rest_ingested(store, case):
    ids = good_runs(store, 15)
    text, why = BAD_RUN_JSON[case]
    bad = store.parent / "runs" / "demo-20260101-130000-beef"
    bad.mkdir()
    (bad / "run.json").write_text(text)
    res = sync(store)
    assert res.returncode == 0, res.stderr
    (line,) = warnings_of(res)
    assert line.startswith(f"warning: skipped {bad}: {why}"), line
    assert f"synced 15 of 16 run folders from {store.parent / 'runs'}" in res.stdout, res.stdout
    assert stored_ids(store) == ids
    assert q(store, "SELECT count(*) FROM steps")[0][0] == 15 * 3


def test_a_corrupt_recipe_is_skipped_naming_its_line_and_leaves_no_transaction_open(store):
    ids = good_runs(store, 3)
    bad_id = "demo-20260101-110000-0bad"  # sorts first: the folders after it must still be ingested
    bad = make_run(store.parent / "runs", bad_id, DEMO_RECIPE)
    (bad / "recipe.toml").write_text("[model]\nsource = \n")
    res = sync(store)
    assert res.returncode == 0, res.stderr
    (line,) = warnings_of(res)
    assert line.startswith(f"warning: skipped {bad}: recipe.toml: not valid TOML (Invalid value (at line 2"), line
    assert stored_ids(store) == ids
    # fixed, the folder is taken at the next sync
    make_run(store.parent / "runs" / "fixed", bad_id, DEMO_RECIPE)
    (bad / "recipe.toml").write_bytes((store.parent / "runs" / "fixed" / bad_id / "recipe.toml").read_bytes())
    res = sync(store)
    assert warnings_of(res) == []
    assert stored_ids(store) == sorted([bad_id, *ids])


def test_a_run_id_from_an_older_store_never_becomes_a_path_outside(store, tmp_path):
    """A store filled before ids were checked may hold one that is a path: commands refuse it rather than
    write annotations.json (tag, note, archive) outside the run folders."""
    (rid,) = good_runs(store, 1)
    assert sync(store).returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = "../../outside"
    with connect(store) as con:
        con.execute("UPDATE runs SET run_id = ?, run_dir = ? WHERE run_id = ?", [evil, str(tmp_path / "gone"), rid])
    for args in (("tag", evil, "k=v"), ("note", evil, "hello"), ("archive", evil)):
        res = workbench(*args, store=store, timeout=120)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "is not a run id" in res.stderr, res.stderr
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("ref", ["", "  "])
def test_an_empty_run_reference_matches_no_run(store, ref):
    (rid,) = good_runs(store, 1)
    assert sync(store).returncode == 0
    for args in (("show", ref), ("rm", ref, "--yes"), ("tag", ref, "k=v"), ("diff", ref)):
        res = workbench(*args, store=store, timeout=120)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert res.stderr.startswith("error: empty run reference"), res.stderr
    assert stored_ids(store) == [rid]
    assert (store.parent / "runs" / rid).is_dir()


def test_run_ids_are_made_in_the_pattern_ingestion_checks():
    from workbench import rundir

    for name in ("encoder_multilabel", "my recipe/v2", "..", "-x-", "é" * 80, "a.b" * 40, ""):
        rid = rundir.new_run_id(name)
        assert rundir.RUN_ID.fullmatch(rid), (name, rid)
    for bad in ("../x", "..", "", "a/b-20260101-120000-abcd", "x-20260101-120000-ABCD", ".x-20260101-120000-abcd",
                "demo-20260101-120000-abcd/", "demo-20260101-120000-abcd\n"):
        assert not rundir.RUN_ID.fullmatch(bad), bad
    assert json.loads(json.dumps(rundir.new_run_id("x")))  # plain text


def _ended_unfollowed(run_dir: Path) -> None:
    """The run's job is over, nobody followed it: its supervisor's pid is gone, exit.json says code 1."""
    import time

    from workbench import rundir

    rundir.write_job(run_dir, {"kind": "local", "pid": 999_999_999})
    rundir.write_exit(run_dir, {"returncode": 1, "t": time.time() - 100})


def test_a_run_with_an_event_that_cannot_be_taken_is_recorded_by_every_writer(store):
    """An unfinished run whose job ended, with an evaluation whose labels are not a table: the writers
    that record such runs first (tag, rm, sync) go on (was: exit 1, a traceback, for every one)."""
    from workbench.rundir import events_file

    (good,) = good_runs(store, 1)
    bad_id = run_id(7)
    bad = make_run(store.parent / "runs", bad_id, DEMO_RECIPE, end=None)
    assert sync(store).returncode == 0
    _ended_unfollowed(bad)
    with open(events_file(bad), "a") as f:
        f.write(json.dumps({"seq": 8, "t": 1.7e9, "type": "eval", "phase": "tuned", "labels": {"ad": 0.5}}) + "\n")
    res = workbench("tag", good, "k=v", store=store, timeout=120)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert q(store, "SELECT status FROM runs WHERE run_id = ?", [bad_id]) == [("failed",)]
    (message,) = q(store, "SELECT message FROM logs WHERE run_id = ? AND seq = 8", [bad_id])
    assert message[0].startswith(f"{events_file(bad)}:9: the eval event (seq 8): labels is "), message
    assert sync(store).returncode == 0
    res = workbench("rm", "--yes", bad_id, store=store, timeout=120)
    assert res.returncode == 0, res.stderr
    assert stored_ids(store) == [good]


def test_a_run_folder_a_writer_cannot_read_is_said_in_one_line_and_the_others_are_recorded(store):
    """Two runs ended unfollowed; one's rank file cannot be read (a folder in its place). `tag` records
    the other, says which folder it could not in one line, and tags (was: exit 2, nothing tagged)."""
    ids = good_runs(store, 1)
    a = make_run(store.parent / "runs", run_id(1), DEMO_RECIPE, end=None)
    b = make_run(store.parent / "runs", run_id(2), DEMO_RECIPE, end=None)
    assert sync(store).returncode == 0
    for d in (a, b):
        _ended_unfollowed(d)
    (a / "events.rank1.jsonl").mkdir()
    res = workbench("tag", ids[0], "k=v", store=store, timeout=120)
    assert res.returncode == 0, res.stderr
    (line,) = warnings_of(res)
    assert line.startswith(f"warning: {a}: events.rank1.jsonl: cannot be read (Is a directory)"), line
    assert line.endswith("; its status is left as recorded"), line
    assert q(store, "SELECT run_id, status FROM runs ORDER BY run_id") == [
        (ids[0], "completed"), (a.name, "running"), (b.name, "failed")]
    assert q(store, "SELECT run_id, key FROM tags") == [(ids[0], "k")]


def test_sync_settles_every_run_it_can_when_one_cannot_be_settled(store):
    """A remote run whose frozen recipe no longer loads cannot be asked about: sync says so in one line,
    settles the local run after it and prints its summary (was: exit 2 at the remote run, the local
    run left running)."""
    a = make_run(store.parent / "runs", run_id(1), DEMO_RECIPE, end=None)
    b = make_run(store.parent / "runs", run_id(2), DEMO_RECIPE, end=None)
    meta = json.loads((a / "run.json").read_text())
    (a / "run.json").write_text(json.dumps({**meta, "target": "ssh:gpubox"}))
    assert sync(store).returncode == 0
    (a / "recipe.toml").write_text("this is [not toml")
    _ended_unfollowed(b)
    res = sync(store)
    assert res.returncode == 0, res.stderr
    (line,) = warnings_of(res)
    assert line.startswith(f"warning: {a / 'recipe.toml'}:1: invalid TOML"), line
    assert line.endswith("; its status is left as recorded"), line
    summary = " ".join(res.stdout.split())  # the line wraps at the terminal's width
    assert f"synced 2 run folders from {store.parent / 'runs'}: 0 new events, 1 ended runs settled" in summary, summary
    assert q(store, "SELECT run_id, status FROM runs ORDER BY run_id") == [(a.name, "running"), (b.name, "failed")]
