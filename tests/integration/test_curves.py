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
