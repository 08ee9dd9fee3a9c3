"""`workbench query` writes nothing anywhere and reads no file: the store's connections run with
DuckDB's external access off and its configuration locked (workbench/store/db.py). One test per
kind of statement that wrote or read outside the store before: each is refused (exit status 2, one
`error:` message, no traceback) and leaves every file as it was."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DEMO_RECIPE, workbench
from tests.integration.runs import q
from tests.unit.test_store import make_run
from workbench.store.db import connect
from workbench.store.ingest import ingest_run

RUN_ID = "demo-20260101-120000-a1b2"


@pytest.fixture
def store(tmp_path) -> Path:
    """A store holding one finished run (its steps, evaluations, logs) and its run folder."""
    path = tmp_path / "store" / "runs.duckdb"
    run_dir = make_run(path.parent / "runs", RUN_ID, DEMO_RECIPE)
    with connect(path) as con:
        ingest_run(con, run_dir)
    return path


def refused(store: Path, sql: str, env: dict | None = None) -> str:
    res = workbench("query", sql, store=store, timeout=120, env=env)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "a bug in workbench" not in res.stderr, res.stderr
    assert res.stderr.startswith("error: query failed: "), res.stderr
    return res.stderr


def steps(store: Path) -> int:
    return q(store, "SELECT count(*) FROM steps")[0][0]


def test_copy_to_a_file_does_not_overwrite_it(store, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    refused(store, f"COPY runs TO '{target}' (FORMAT csv)")
    assert target.read_text() == "my notes\n"
    refused(store, f"COPY (SELECT 1) TO '{tmp_path / 'new.csv'}'")
    assert not (tmp_path / "new.csv").exists()


def test_export_database_writes_no_folder(store, tmp_path):
    refused(store, f"EXPORT DATABASE '{tmp_path / 'exported'}'")
    assert not (tmp_path / "exported").exists()


def test_attach_another_database_read_write_changes_nothing(store, tmp_path):
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE kept AS SELECT 42 AS x")
    before = other.stat().st_mtime_ns, other.stat().st_size
    refused(store, f"ATTACH '{other}' AS o (READ_WRITE); DROP TABLE o.kept")
    assert (other.stat().st_mtime_ns, other.stat().st_size) == before
    with duckdb.connect(str(other), read_only=True) as con:
        assert con.execute("SELECT x FROM kept").fetchall() == [(42,)]


def test_attaching_the_store_through_a_hard_link_cannot_empty_it(store, tmp_path):
    before = steps(store)
    assert before > 0
    link = tmp_path / "link.duckdb"
    os.link(store, link)
    refused(store, f"ATTACH '{link}' AS l (READ_WRITE); DELETE FROM l.steps")
    refused(store, f"ATTACH '{store}' AS s (READ_WRITE); DELETE FROM s.steps")
    assert steps(store) == before


@pytest.mark.parametrize("reader", ["read_csv('{p}')", "read_text('{p}')", "read_json('{p}')", "glob('{p}')"])
def test_no_file_is_read_outside_the_store(store, tmp_path, reader):
    secret = tmp_path / "secret.csv"
    secret.write_text("user,password\nann,s3cret\n")
    err = refused(store, f"SELECT * FROM {reader.format(p=secret)}")
    assert "s3cret" not in err
    # nor a file beside the store, in the run folders
    events = store.parent / "runs" / RUN_ID / "events.jsonl"
    refused(store, f"SELECT * FROM {reader.format(p=events)}")


def test_no_extension_is_installed_or_loaded(store, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    fake = tmp_path / "evil.duckdb_extension"
    fake.write_bytes(b"\x7fELF not really")
    refused(store, "INSTALL httpfs", env={"HOME": str(home)})
    err = refused(store, f"LOAD '{fake}'", env={"HOME": str(home)})
    assert "disabled" in err, err
    assert list(home.iterdir()) == []  # no ~/.duckdb/extensions made


@pytest.mark.parametrize("sql", ["SET enable_external_access = true", "RESET enable_external_access",
                                 "SET lock_configuration = false", "PRAGMA enable_profiling"])
def test_the_configuration_cannot_be_changed_back(store, tmp_path, sql):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    err = refused(store, f"{sql}; SELECT * FROM read_csv('{secret}')")
    assert "locked" in err, err


def test_the_stores_own_tables_and_views_still_answer(store):
    res = workbench("query", "SELECT run_id, status, tuned_f1_micro FROM run_summary", "--format", "csv",
                    store=store, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["run_id,status,tuned_f1_micro", f"{RUN_ID},completed,0.58"]
    res = workbench("query", "SELECT count(*) AS n FROM base_vs_tuned WHERE improved", "--format", "csv",
                    store=store, timeout=120)
    assert res.returncode == 0 and res.stdout.splitlines()[1] != "0", (res.stdout, res.stderr)
