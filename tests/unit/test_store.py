"""The DuckDB store: ingestion of real run folders into a real runs.duckdb."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench.errors import UserError
from workbench.events import EventWriter
from workbench.recipe import load_recipe, write_frozen
from workbench.rundir import events_file, write_run_meta
from workbench.store.db import connect
from workbench.store.ingest import ingest_run
from workbench.store.schema import ALL_LABELS
from workbench.store.write import mark_ended

TABLES = ("runs", "params", "steps", "evals", "telemetry", "artifacts", "logs")

BASE = {
    "labels": {"ad": {"precision": 0.6, "recall": 0.2, "f1": 0.3, "support": 10},
               "tox": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4}},
    "aggregates": {"f1_micro": 0.35, "f1_macro": 0.4, "loss": 0.7, "hamming_loss": 0.3, "examples": 14},
}
TUNED = {
    "labels": {"ad": {"precision": 0.4, "recall": 0.9, "f1": 0.55, "support": 10},
               "tox": {"precision": 0.5, "recall": 0.75, "f1": 0.6, "support": 4}},
    "aggregates": {"f1_micro": 0.58, "f1_macro": 0.575, "loss": 0.25, "hamming_loss": 0.35, "examples": 14},
}


def rid(name: str) -> str:
    """A run id as workbench makes them (rundir.RUN_ID) for a test's short name."""
    return f"{name}-20260101-120000-0000"


def make_run(root: Path, run_id: str, demo_recipe: Path, *, end: str | None = "completed",
             prior: dict | None = None) -> Path:
    """A run folder as a launcher and trainer would leave it: run.json, recipe.toml, events.jsonl."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    recipe = load_recipe(demo_recipe, ["group=sweep1"])
    write_frozen(recipe, run_dir / "recipe.toml", f"Frozen recipe of run {run_id}")
    write_run_meta(run_dir, {"run_id": run_id, "recipe_name": recipe.name, "recipe_path": str(demo_recipe),
                             "target": "local", "group": "sweep1", "created_at": time.time(), "host": "testhost",
                             "pid": 12345})
    with EventWriter(events_file(run_dir)) as w:
        w.emit("start", run_id=run_id, recipe=recipe.values, versions={"python": "3"}, host="testhost", pid=12345,
               world_size=1)
        w.emit("model", trainable_params=1234, total_params=100000, source="tiny:distilbert", method="lora")
        for step, loss in ((10, 0.9), (20, 0.6), (30, 0.4)):
            w.emit("step", step=step, max_steps=30, epoch=step / 30, loss=loss, lr=1e-3, grad_norm=1.0,
                   samples_per_s=50.0, tokens_per_s=900.0)
        w.emit("eval", phase="base", split="validation", step=0, epoch=0.0, **BASE)
        w.emit("eval", phase="tuned", split="validation", step=30, epoch=1.0, **TUNED)
        if prior is not None:  # the label prior (no model), after the tuned evaluation
            w.emit("eval", phase="prior", split="validation", step=0, epoch=0.0, **prior)
        w.emit("artifact", kind="adapter", path=str(run_dir / "adapter"), size_bytes=42)
        if end:
            time.sleep(0.01)  # a measurable duration
            w.emit("end", status=end, error=None)
    return run_dir


def counts(con) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def run_dir(tmp_path, demo_recipe) -> Path:
    return make_run(tmp_path / "runs", rid("r1"), demo_recipe)


def test_ingest_completed_run(store, run_dir):
    with connect(store) as con:
        res = ingest_run(con, run_dir)
        assert res.run_id == rid("r1")
        assert res.status == "completed"
        assert (res.stored, res.last_seq) == (9, 8)
        assert res.warnings == []
        row = con.execute("SELECT status, trainable_params, total_params, duration_s, started_at, ended_at, "
                          "recipe_name, model, method, task, group_id, host, world_size, pid, run_dir, error, "
                          "last_seq FROM runs").fetchall()
    assert len(row) == 1
    (status, trainable, total, duration, started, ended, recipe_name, model, method, task, group, host, world,
     pid, rdir, error, last_seq) = row[0]
    assert status == "completed"
    assert (trainable, total) == (1234, 100000)
    assert duration is not None and 0 < duration < 60
    assert started is not None and ended is not None and ended >= started
    assert recipe_name == "demo_encoder_multilabel"
    assert (model, method, task) == ("tiny:distilbert", "lora", "classification")
    assert (group, host, world, pid) == ("sweep1", "testhost", 1, 12345)
    assert rdir == str(run_dir.resolve())
    assert error is None
    assert last_seq == 8


def test_ingest_tables(store, run_dir):
    with connect(store) as con:
        ingest_run(con, run_dir)
        steps = con.execute("SELECT step, loss FROM steps ORDER BY seq").fetchall()
        assert steps == [(10, 0.9), (20, 0.6), (30, 0.4)]
        n_labels = sum(len(m) for m in BASE["labels"].values())
        n_aggs = len(BASE["aggregates"])
        assert con.execute("SELECT count(*) FROM evals WHERE phase = 'base'").fetchone()[0] == n_labels + n_aggs
        assert con.execute("SELECT count(*) FROM evals WHERE phase = 'tuned'").fetchone()[0] == n_labels + n_aggs
        aggs = dict(con.execute("SELECT metric, value FROM evals WHERE phase = 'tuned' AND label = ?",
                                [ALL_LABELS]).fetchall())
        assert aggs == pytest.approx(TUNED["aggregates"])
        assert con.execute("SELECT value FROM evals WHERE phase = 'base' AND label = 'ad' AND metric = 'f1'"
                           ).fetchone()[0] == pytest.approx(0.3)
        assert con.execute("SELECT DISTINCT split FROM evals").fetchall() == [("validation",)]
        art = con.execute("SELECT kind, path, meta FROM artifacts").fetchall()
        assert art == [("adapter", str(run_dir / "adapter"), '{"size_bytes": 42}')]
        params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?", [rid("r1")]).fetchall())
        assert params["lora.r"] == "16"
        assert params["model.source"] == "tiny:distilbert"
        assert params["group"] == "sweep1"
        assert "data.labels" in params and "advertisement" in params["data.labels"]


def test_label_metrics_view(store, run_dir):
    with connect(store) as con:
        ingest_run(con, run_dir)
        labels = {r[0] for r in con.execute("SELECT DISTINCT label FROM label_metrics").fetchall()}
        assert labels == {"ad", "tox"}
        row = con.execute("SELECT recipe_name, method FROM label_metrics LIMIT 1").fetchone()
        assert row == ("demo_encoder_multilabel", "lora")


def test_base_vs_tuned_delta_and_improved(store, run_dir):
    with connect(store) as con:
        ingest_run(con, run_dir)
        rows = con.execute("SELECT label, metric, base, tuned, delta, improved FROM base_vs_tuned").fetchall()
    got = {(label, metric): (b, t, d, imp) for label, metric, b, t, d, imp in rows}
    expected_keys = {(lab, m) for lab, ms in BASE["labels"].items() for m in ms} | \
                    {(ALL_LABELS, m) for m in BASE["aggregates"]}
    assert set(got) == expected_keys
    for (_label, _metric), (b, t, d, _) in got.items():
        assert d == pytest.approx(t - b)
    assert got[("ad", "f1")][3] is True  # 0.3 -> 0.55
    assert got[("ad", "precision")][3] is False  # 0.6 -> 0.4
    assert got[("tox", "precision")][3] is False  # unchanged is not an improvement
    assert got[(ALL_LABELS, "loss")][3] is True  # 0.7 -> 0.25: lower is better
    assert got[(ALL_LABELS, "loss")][2] == pytest.approx(-0.45)
    assert got[(ALL_LABELS, "hamming_loss")][3] is False  # 0.3 -> 0.35: worse
    assert got[("ad", "support")][3] is None  # neutral
    assert got[(ALL_LABELS, "examples")][3] is None
    assert got[(ALL_LABELS, "f1_micro")][3] is True


def test_the_label_prior_sits_beside_base_and_tuned(store, tmp_path, demo_recipe):
    """Phase prior: the view's prior and beats_prior (appended, NULL where a run has none), and the
    reads behind diff, show and compare."""
    from workbench.store import read

    prior = {"labels": {"ad": {"f1": 0.6, "support": 10}},
             "aggregates": {"f1_micro": 0.5, "loss": 0.24, "examples": 14}}
    with_prior = make_run(tmp_path / "runs", rid("p1"), demo_recipe, prior=prior)
    without = make_run(tmp_path / "runs", rid("p2"), demo_recipe)
    with connect(store) as con:
        ingest_run(con, with_prior)
        ingest_run(con, without)
        cols = [d[0] for d in con.execute("SELECT * FROM base_vs_tuned LIMIT 0").description]
        assert cols[-3:] == ["improved", "prior", "beats_prior"]  # appended: positional readers keep theirs
        rows = {(r, label, m): (p, beats) for r, label, m, p, beats in con.execute(
            "SELECT run_id, label, metric, prior, beats_prior FROM base_vs_tuned").fetchall()}
        assert rows[(rid("p1"), ALL_LABELS, "loss")] == (0.24, False)     # 0.25 is not below 0.24
        assert rows[(rid("p1"), ALL_LABELS, "f1_micro")] == (0.5, True)   # 0.58 above 0.5
        assert rows[(rid("p1"), "ad", "f1")] == (0.6, False)              # 0.55 below 0.6
        assert rows[(rid("p1"), "ad", "support")] == (10, None)           # neutral
        assert rows[(rid("p1"), "tox", "f1")] == (None, None)             # the prior has no such row
        assert {v for k, v in rows.items() if k[0] == rid("p2")} == {(None, None)}
        assert read.prior_evaluation(con, rid("p1"))[(ALL_LABELS, "loss")] == 0.24
        assert read.prior_evaluation(con, rid("p2")) == {}
        assert read.run_detail(con, rid("p1")).prior == prior["aggregates"]
        c = read.compare(con, [rid("p1"), rid("p2")])
        assert c.prior == {m: {rid("p1"): v} for m, v in prior["aggregates"].items()}
        assert c.aggregates["loss"] == {rid("p1"): 0.25, rid("p2"): 0.25}  # the tuned models' alone


def test_run_summary(store, run_dir):
    with connect(store) as con:
        ingest_run(con, run_dir)
        cur = con.execute("SELECT * FROM run_summary")
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
    assert cols == ["run_id", "recipe_name", "task", "model", "method", "target", "status", "created_at",
                    "started_at", "ended_at", "duration_s", "group_id", "host", "trainable_params", "total_params",
                    "tuned_f1_micro", "tuned_f1_macro", "base_f1_micro", "base_f1_macro", "last_loss", "last_step",
                    "error", "run_dir", "tuned_accuracy", "train_runtime_s", "train_samples_per_s", "peak_mem_bytes",
                    "saved_bytes", "quantized", "warnings", "kind", "evaluates", "archived", "targets_met"]
    assert len(rows) == 1
    s = dict(zip(cols, rows[0]))
    assert s["status"] == "completed"
    assert s["tuned_f1_micro"] == pytest.approx(0.58)
    assert s["tuned_f1_macro"] == pytest.approx(0.575)
    assert s["base_f1_micro"] == pytest.approx(0.35)
    assert s["base_f1_macro"] == pytest.approx(0.4)
    assert s["last_loss"] == pytest.approx(0.4)
    assert s["last_step"] == 30
    assert s["target"] == "local"


def test_reingest_is_noop(store, run_dir):
    with connect(store) as con:
        ingest_run(con, run_dir)
        first = counts(con)
        res = ingest_run(con, run_dir)
        assert (res.stored, res.last_seq) == (0, None)
        assert res.status == "completed"
        assert counts(con) == first
    with connect(store) as con:  # a fresh connection (another follower) changes nothing either
        assert ingest_run(con, run_dir).stored == 0
        assert counts(con) == first
    assert first["steps"] == 3 and first["runs"] == 1 and first["artifacts"] == 1


def test_rebuild_after_deleting_store(store, run_dir, tmp_path, demo_recipe):
    other = make_run(tmp_path / "runs", rid("r2"), demo_recipe, end="failed")
    with connect(store) as con:
        ingest_run(con, run_dir)
        ingest_run(con, other)
        first = counts(con)
        summary = con.execute("SELECT run_id, status, trainable_params, last_step FROM run_summary ORDER BY run_id"
                              ).fetchall()
    store.unlink()
    Path(str(store) + ".wal").unlink(missing_ok=True)
    with connect(store) as con:
        assert counts(con)["runs"] == 0
        ingest_run(con, run_dir)
        ingest_run(con, other)
        assert counts(con) == first
        assert con.execute("SELECT run_id, status, trainable_params, last_step FROM run_summary ORDER BY run_id"
                           ).fetchall() == summary
    assert [s[1] for s in summary] == ["completed", "failed"]


def test_growing_events_file_ingests_only_new_events(store, tmp_path, demo_recipe):
    run_dir = make_run(tmp_path / "runs", rid("live"), demo_recipe, end=None)
    with connect(store) as con:
        res = ingest_run(con, run_dir)
        assert (res.stored, res.last_seq) == (8, 7)
        assert res.status == "running"
        before = counts(con)
    with EventWriter(events_file(run_dir)) as w:
        w.emit("step", step=40, loss=0.3)
        w.emit("log", level="info", message="hello")
    with open(events_file(run_dir), "ab") as f:
        f.write(b'{"seq": 10, "t": 1, "type": "st')  # torn: not yet
    with connect(store) as con:
        res = ingest_run(con, run_dir)
        assert (res.stored, res.last_seq) == (2, 9)
        after = counts(con)
        assert after["steps"] == before["steps"] + 1
        assert after["logs"] == before["logs"] + 1
        assert after["evals"] == before["evals"]
        assert res.status == "running"
    with open(events_file(run_dir), "ab") as f:
        f.write(b'ep", "step": 50, "loss": 0.2}\n')
        f.write(b'{"seq": 11, "t": %.3f, "type": "end", "status": "completed"}\n' % (time.time() + 0.01))
    with connect(store) as con:
        res = ingest_run(con, run_dir)
        assert (res.stored, res.last_seq) == (2, 11)
        assert res.status == "completed"
        assert con.execute("SELECT max(step), count(*) FROM steps").fetchone() == (50, 5)
        assert con.execute("SELECT last_seq FROM runs").fetchone()[0] == 11
        # The end arrived in a later batch than the start: the duration still spans both.
        duration = con.execute("SELECT duration_s FROM runs").fetchone()[0]
        assert duration is not None and 0 <= duration < 60


def test_what_ingestion_returns_does_not_grow_with_the_events_it_stores(store, tmp_path, demo_recipe):
    """The result counts the events stored and keeps the last seq: a list of every seq stored held
    34 MiB per million events until ingestion returned (`sync` of a long run)."""
    import pickle

    run_dir = make_run(tmp_path / "runs", rid("long"), demo_recipe, end=None)
    with open(events_file(run_dir), "ab") as f:
        f.write(b"".join(b'{"seq":%d,"t":1.5,"type":"log","level":"info","message":"m"}\n' % (8 + i)
                         for i in range(20_000)))
    with connect(store) as con:
        res = ingest_run(con, run_dir)
    assert (res.stored, res.last_seq, res.status) == (20_008, 20_007, "running")
    assert len(pickle.dumps(res)) < 1000  # nothing in it grows with the events


def test_run_without_end_is_running_then_mark_ended(store, tmp_path, demo_recipe):
    a = make_run(tmp_path / "runs", rid("a"), demo_recipe, end=None)
    b = make_run(tmp_path / "runs", rid("b"), demo_recipe, end=None)
    done = make_run(tmp_path / "runs", rid("done"), demo_recipe)
    with connect(store) as con:
        for d in (a, b, done):
            ingest_run(con, d)
        assert con.execute("SELECT status, ended_at, duration_s FROM runs WHERE run_id = ?", [rid("a")]).fetchone() == (
            "running", None, None)
        now = time.time()
        mark_ended(con, rid("a"), "failed", "process is gone", now)
        mark_ended(con, rid("b"), "interrupted", "killed by SIGTERM", now)
        mark_ended(con, rid("done"), "failed", "should not apply", now)  # already ended: unchanged
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT run_id, status, error, ended_at IS NOT NULL, duration_s FROM runs").fetchall()}
    assert rows[rid("a")][:3] == ("failed", "process is gone", True)
    assert rows[rid("a")][3] is not None and rows[rid("a")][3] >= 0
    assert rows[rid("b")][:2] == ("interrupted", "killed by SIGTERM")
    assert rows[rid("done")][:2] == ("completed", None)


def test_run_folder_without_events_is_queued(store, tmp_path):
    run_dir = tmp_path / "runs" / rid("q")
    run_dir.mkdir(parents=True)
    write_run_meta(run_dir, {"run_id": rid("q"), "recipe_name": "x", "created_at": time.time()})
    with connect(store) as con:
        res = ingest_run(con, run_dir)
        assert res.status == "queued" and res.stored == 0
        assert con.execute("SELECT count(*) FROM params").fetchone()[0] == 0


def test_read_only_connect_creates_store_with_schema(store):
    with connect(store, read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert set(TABLES) | {"meta", "run_summary", "label_metrics", "base_vs_tuned"} <= names


HOLDER = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("CREATE TABLE IF NOT EXISTS holder (x INTEGER)")
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


def test_connect_waits_for_another_process(store):
    with connect(store):
        pass  # create it
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        # While it is held: a short timeout gives up with a clean error.
        with pytest.raises(UserError) as exc:
            with connect(store, timeout=0.2):
                pass
        assert "busy" in str(exc.value)
        assert str(store) in str(exc.value)
        assert time.monotonic() - t0 < 1.4, "the short timeout should not wait for the holder"
        assert holder.poll() is None, "the holder must still hold the file for the test to mean anything"
        # A longer timeout waits until the holder lets go, then works.
        with connect(store, timeout=20) as con:
            waited = time.monotonic() - t0
            assert con.execute("SELECT count(*) FROM holder").fetchone()[0] == 0
        assert waited > 0.8
    finally:
        holder.wait(timeout=20)
    assert holder.returncode == 0


RACER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from workbench.store.db import connect
    store, go, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    (go.parent / f"ready-{n}").touch()
    while not go.exists():
        time.sleep(0.001)
    with connect(store, read_only=n.startswith("r")) as con:  # the store does not exist yet
        if not n.startswith("r"):
            con.execute("INSERT INTO logs VALUES (?, 0, 0, 'info', 'hello')", [n])
""")


def test_processes_creating_the_store_at_once_share_one_store_and_lose_nothing(tmp_path):
    """Six processes (four writers, two readers, as `workbench run` x 4 and two `query` loops in
    the reliability test) open a store that does not exist yet at the same moment: one creation
    wins, none deletes another's store or opens a half-made one, every write is there."""
    store, go = tmp_path / "runs.duckdb", tmp_path / "go"
    names = ["w0", "w1", "w2", "w3", "r0", "r1"]
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(store), str(go), n], stderr=subprocess.PIPE, text=True)
             for n in names]
    deadline = time.monotonic() + 120  # all of them imported and waiting (bounds a failure only)
    while len(list(tmp_path.glob("ready-*"))) < len(names):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a racer never got ready"
        time.sleep(0.05)
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(names), errors
    with connect(store, read_only=True) as con:
        assert sorted(r for (r,) in con.execute("SELECT run_id FROM logs").fetchall()) == ["w0", "w1", "w2", "w3"]
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("ready-"))
    assert left == ["go", "runs.duckdb"]  # no private copies left


def test_odd_values_in_numeric_fields_are_null_and_nan_stays_nan(store, tmp_path, demo_recipe):
    """A diverged loss (NaN, which json writes and orjson refuses), a string where a number goes (even
    one that spells a number: a reader takes numbers, events.SHAPES) and an integer too big for
    BIGINT: the event is stored, the odd value as NULL, NaN as NaN."""
    run_dir = make_run(tmp_path / "runs", rid("odd"), demo_recipe, end=None)
    with EventWriter(events_file(run_dir)) as w:
        w.emit("step", step=40, loss=float("nan"), lr="fast", grad_norm=10**30, samples_per_s=None)
        w.emit("step", step="41", loss=float("inf"), lr=None, grad_norm=1.0, samples_per_s=2.5)
        w.emit("telemetry", host="h", rank=0, gpu=0, util=50.0, mem_used=10**30, mem_total=2**40)
    with connect(store) as con:
        ingest_run(con, run_dir)
        rows = con.execute("SELECT step, isnan(loss), isinf(loss), lr, grad_norm, samples_per_s FROM steps "
                           "WHERE run_id = ? AND step >= 40 OR step IS NULL ORDER BY seq", [rid("odd")]).fetchall()
        tel = con.execute("SELECT mem_used, mem_total FROM telemetry WHERE run_id = ?", [rid("odd")]).fetchall()
    assert rows == [(40, True, False, None, 1e30, None), (None, False, True, None, 1.0, 2.5)]
    assert tel == [(None, 2**40)]


def test_run_ids_a_reference_names_prefix_first_then_a_suffix_of_four(store, tmp_path, demo_recipe):
    """The rule every command resolves RUN by (the store's runs, and `rm --undo`'s trash: rundir.ids_matching)."""
    from workbench.store.read import run_ids_matching

    with connect(store) as con:
        a, b, c = "exp-20260101-120000-aa11", "exp-20260102-120000-bb22", "other_exp-20260103-120000-1eaf"
        for rid in (a, b, c):
            ingest_run(con, make_run(tmp_path / "runs", rid, demo_recipe))
        assert run_ids_matching(con, "exp") == [a, b]  # prefixes win (c holds "exp" too, not at its start)
        assert run_ids_matching(con, "bb22") == [b]    # a 4-character suffix
        assert run_ids_matching(con, "1eaf") == [c]
        assert run_ids_matching(con, "b22") == []      # too short to be a suffix
        assert run_ids_matching(con, a) == [a]


def test_a_run_stopped_by_workbench_stop_is_cancelled_in_a_store_rebuilt_from_its_folder(store, tmp_path, demo_recipe):
    """`workbench stop` marks run.json; the trainer ends `interrupted`; its follower settles it `cancelled`.
    Ingestion alone (sync into a new store, `rm --undo`) says the same, not `interrupted`."""
    from workbench.rundir import read_run_meta

    run_dir = make_run(tmp_path / "runs", rid("stopped"), demo_recipe, end="interrupted")
    meta = read_run_meta(run_dir)
    write_run_meta(run_dir, {**meta, "stop_requested_at": time.time()})
    with connect(store) as con:
        assert ingest_run(con, run_dir).status == "cancelled"
        assert con.execute("SELECT status, error FROM runs").fetchone() == ("cancelled", "cancelled by workbench stop")


def test_a_store_of_schema_9_gains_the_fairness_columns_and_judges_lower_is_better_anew(store):
    """Schema 10: a store an older workbench filled keeps its fairness rows (FPR per group; NULL in the
    columns added since) and gets base_vs_tuned rebuilt, whose list of lower-is-better metrics is
    written into the view's SQL: a falling invented_rate or fnr is an improvement."""
    import duckdb

    from workbench.store.schema import SCHEMA_VERSION

    added = ("group_column", "positive_class", "positives", "false_negatives", "fnr", "max_fnr", "subgroup_auc",
             "bpsn_auc", "bnsp_auc", "reason")
    with connect(store):
        pass
    with duckdb.connect(str(store)) as con:  # back to what schema 9 held
        con.execute("DROP VIEW fairness_flags")
        for column in added:
            con.execute(f"ALTER TABLE fairness DROP COLUMN {column}")
        con.execute("""CREATE OR REPLACE VIEW base_vs_tuned AS
                       SELECT b.run_id, b.split, b.label, b.metric, b.value AS base, t.value AS tuned,
                              t.value > b.value AS improved
                       FROM evals b JOIN evals t ON t.run_id = b.run_id AND t.split = b.split AND t.label = b.label
                            AND t.metric = b.metric AND t.phase = 'tuned' WHERE b.phase = 'base'""")
        con.execute("INSERT INTO fairness VALUES ('r', 3, 'tuned', 'test', 'women', 40, 30, 6, 0.2, 0.1, true)")
        con.execute("INSERT INTO runs (run_id, recipe_name, status) VALUES ('r', 'x', 'completed')")
        for phase, value in (("base", 0.5), ("tuned", 0.3)):
            for metric in ("invented_rate", "fnr"):
                con.execute("INSERT INTO evals (run_id, seq, phase, split, label, metric, value) VALUES "
                            "('r', 1, ?, 'test', '(all)', ?, ?)", [phase, metric, value])
        con.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    with connect(store) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        cols = [d[0] for d in con.execute("SELECT * FROM fairness").description]
        assert cols[-len(added):] == list(added)
        assert con.execute("SELECT grp, fpr, flagged, group_column, fnr, bpsn_auc FROM fairness").fetchall() == [
            ("women", 0.2, True, None, None, None)]
        assert con.execute("SELECT grp, group_column FROM fairness_flags").fetchall() == [("women", None)]
        assert dict(con.execute("SELECT metric, improved FROM base_vs_tuned WHERE run_id = 'r'").fetchall()) == {
            "invented_rate": True, "fnr": True}
