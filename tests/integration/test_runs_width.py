"""`workbench runs` on a 100-column terminal once a long evaluation-run id is in the store: the run id
column is capped (the id wraps, whole) so the duration column stays."""

from __future__ import annotations

from tests.conftest import workbench

LONG = "customer_reviews_sentiment_distilbert_lora_r16-eval-20260930-100000-e0e0"


def test_time_column_stays_at_100_columns_with_a_long_eval_run_id(tmp_path):
    from tools.sample_store import T0, write_run
    from workbench.store.db import connect, runs_root
    from workbench.store.ingest import ingest_run

    store = tmp_path / "runs.duckdb"
    for run_id, steps in (("demo_encoder_multilabel-20260921-141320-a1b2", 200), (LONG, 0)):
        with connect(store) as con:
            ingest_run(con, write_run(runs_root(store), run_id, steps=steps, start=T0))
    r = workbench("runs", store=store, env={"COLUMNS": "100"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), r.stdout
    header = next(line for line in lines if line.lstrip("│┃ ").startswith("run "))
    assert " time " in header + " ", r.stdout
    # the id is all there, wrapped within its column
    assert LONG in "".join(line.split("│")[1].strip() for line in lines if line.count("│") > 2), r.stdout
