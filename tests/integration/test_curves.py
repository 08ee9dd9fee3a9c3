"""`workbench curves`: the training and epoch-evaluation curves of several finished runs through the
real CLI, on the sample store (tools/sample_store.py: runs with steps and epoch evaluations): the CSV
numbers are the store's rows, the plot names each run, a metric no run has is one line naming those
the runs have."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import workbench
from workbench.store.db import connect

LORA = "demo_encoder_multilabel-20260921-141320-a1b2"
FULL = "demo_encoder_multilabel-20260922-090000-c3d4"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from tools.sample_store import build_sample_store

    path = tmp_path_factory.mktemp("curves") / "runs.duckdb"
    build_sample_store(path)
    return path


def csv_rows(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def test_csv_loss_is_the_steps_table(store):
    r = workbench("curves", "a1b2", "c3d4", "--metric", "loss", "--format", "csv", store=store)
    assert r.returncode == 0, r.stderr
    with connect(store, read_only=True) as con:
        want = con.execute("SELECT run_id, step, loss FROM steps WHERE run_id IN (?, ?) ORDER BY run_id, seq",
                           [LORA, FULL]).fetchall()
    got = [(row["run_id"], int(row["step"]), float(row["value"])) for row in csv_rows(r.stdout)]
    assert len(want) == 40
    assert sorted(got) == sorted(want)
    assert {row["metric"] for row in csv_rows(r.stdout)} == {"loss"}
    assert [rid for rid, *_ in got] == sorted(rid for rid, *_ in got)  # one run after the other, as named


def test_csv_eval_metric_is_the_epoch_evaluations(store):
    r = workbench("curves", LORA, FULL, "--metric", "eval:f1_micro", "--format", "csv", store=store)
    assert r.returncode == 0, r.stderr
    with connect(store, read_only=True) as con:
        want = con.execute("SELECT run_id, step, value FROM evals WHERE run_id IN (?, ?) AND phase = 'epoch' "
                           "AND split = 'validation' AND label = '(all)' AND metric = 'f1_micro' ORDER BY seq",
                           [LORA, FULL]).fetchall()
    rows = csv_rows(r.stdout)
    assert len(want) == 8
    assert sorted((row["run_id"], int(row["step"]), float(row["value"])) for row in rows) == sorted(want)
    assert {row["metric"] for row in rows} == {"eval:f1_micro"}


def test_plot_names_each_run(store):
    r = workbench("curves", LORA, "c3d4", "--metric", "lr", "--width", "90", "--height", "20", store=store)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.rstrip("\n").split("\n")
    assert "\x1b[" not in r.stdout  # not a terminal: no colour codes
    assert "a1b2" in r.stdout and "c3d4" in r.stdout  # the legend: each run by its short name
    assert "lr" in lines[0] and "step" in lines[-1]
    assert len(lines) == 20 and max(len(line) for line in lines) <= 90


def test_a_metric_no_run_has_names_the_available_ones(store):
    r = workbench("curves", LORA, FULL, "--metric", "eval:bleu", store=store)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: --metric eval:bleu")
    for name in ("loss", "lr", "grad_norm", "samples_per_s", "eval:f1_micro", "eval:hamming_loss", "eval:loss"):
        assert name in lines[0]


def test_an_unknown_run_is_one_line(store):
    r = workbench("curves", LORA, "nosuchrun", store=store)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "nosuchrun" in r.stderr


def test_a_run_without_the_metric_is_named_and_the_others_drawn(tmp_path):
    """An evaluation-like run (no steps, no epoch evaluation) beside a trained one: the trained one's
    rows, and a note naming the other on stderr."""
    from tools.sample_store import T0, write_run
    from workbench.store.db import runs_root
    from workbench.store.ingest import ingest_run

    store = tmp_path / "runs.duckdb"
    bare = "eval_only-20260930-100000-e0e0"
    for run_id, steps in ((LORA, 200), (bare, 0)):
        with connect(store) as con:
            ingest_run(con, write_run(runs_root(store), run_id, steps=steps, start=T0))
    r = workbench("curves", LORA, bare, "--format", "csv", store=store)
    assert r.returncode == 0, r.stderr
    assert {row["run_id"] for row in csv_rows(r.stdout)} == {LORA} and len(csv_rows(r.stdout)) == 20
    assert r.stderr.strip() == f"note: run {bare} has no loss"
    alone = workbench("curves", bare, store=store)
    assert alone.returncode == 2
    assert alone.stderr.strip() == ("error: --metric loss: these runs have no training steps and no epoch "
                                    "evaluation on the validation split")
