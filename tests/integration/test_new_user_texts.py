"""Issue 29 item 8, the texts a new user met, through the real CLI: `query --help` names every table and
view the store has, an empty result says "0 rows", `gc` with nothing to free says so in one line, and
every command taking a RUN says a suffix works too."""

from __future__ import annotations

import csv
import io

import pytest

from workbench.store.db import connect


@pytest.fixture
def store(tmp_path):
    """An empty store (its tables and views, no runs) where the `cli` fixture looks."""
    with connect(tmp_path / "runs.duckdb"):
        pass
    return tmp_path / "runs.duckdb"


def test_query_help_names_every_table_and_view_of_the_store(cli, store):
    listed = cli("query", "select table_name from information_schema.tables order by 1", "--format", "csv")
    names = [row[0] for row in csv.reader(io.StringIO(listed.stdout))][1:]
    assert "fairness_flags" in names and "runs" in names
    help_text = " ".join(cli("query", "--help").stdout.split())  # argparse wraps the lines
    assert [n for n in names if n not in help_text.replace(",", " ").replace(";", " ").split()] == []


def test_an_empty_query_result_says_0_rows(cli, store):
    r = cli("query", "select run_id, status from runs")
    assert r.returncode == 0 and r.stdout.rstrip().endswith("\n0 rows"), r.stdout
    assert cli("query", "select 1 as a").stdout.rstrip().endswith("\n1 row")
    assert cli("query", "select 1 as a", "--format", "csv").stdout == "a\n1\n"  # scripts get the rows alone


def test_gc_with_nothing_to_free_says_so_in_one_line(cli, store):
    r = cli("gc")
    assert r.returncode == 0 and r.stdout == "nothing to free: no completed run holds checkpoints\n", r.stdout
    trash = cli("gc", "--trash").stdout
    assert trash.startswith("nothing to free: the trash (") and trash.endswith(") is empty\n"), trash


@pytest.mark.parametrize("command", ["show", "export", "merge", "attach", "resume", "stop", "predict", "errors",
                                     "note"])
def test_every_run_argument_says_a_suffix_works(cli, command):
    out = " ".join(cli(command, "--help").stdout.split())
    assert "run id, unique prefix or suffix, or 'last'" in out, out
