"""Runs with very many classes (issue 25, item 2): event files of any size stored in bounded
batches, a line over the limit skipped with an error while the rest of the run is stored, sparse
confusion matrices (both forms read), prediction files bounded past eval.scores_all_up_to."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from tests.unit.test_store import make_run, rid
from workbench.events import EventWriter
from workbench.rundir import events_file
from workbench.store import ingest
from workbench.store.db import connect
from workbench.store.ingest import ingest_run


@pytest.fixture
def store(tmp_path):
    return tmp_path / "runs.duckdb"


def _eval_line(seq: int, classes: int) -> bytes:
    labels = {f"c{i:05d}": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1.0} for i in range(classes)}
    return json.dumps({"seq": seq, "t": time.time(), "type": "eval", "phase": "epoch", "split": "validation",
                       "step": 30, "epoch": 1.0, "labels": labels, "aggregates": {"f1_macro": 0.1}},
                      separators=(",", ":")).encode() + b"\n"


def test_a_run_with_an_event_line_over_the_limit_is_stored_without_it(store, tmp_path, demo_recipe, monkeypatch):
    run_dir = make_run(tmp_path / "runs", rid("big"), demo_recipe, end=None)  # seq 0-7
    with open(events_file(run_dir), "ab") as f:
        f.write(_eval_line(8, 2000))  # ~150 KB
    with EventWriter(events_file(run_dir)) as w:
        w.emit("end", status="completed")
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "64K")
    with connect(store) as con:
        res = ingest_run(con, run_dir)
        assert res.status == "completed" and (res.stored, res.last_seq) == (10, 9)
        (warning,) = res.warnings
        assert warning.startswith(f"{events_file(run_dir)}:9: the eval event (seq 8) is ") and "64.0 KiB limit" in warning
        assert con.execute("SELECT seq, level, message FROM logs WHERE level = 'error'").fetchall() == [
            (8, "error", warning)]
        assert con.execute("SELECT DISTINCT phase FROM evals ORDER BY phase").fetchall() == [("base",), ("tuned",)]
        assert con.execute("SELECT status, last_seq FROM runs").fetchone() == ("completed", 9)
        assert ingest_run(con, run_dir).stored == 0  # read once: not stored twice


def test_ingestion_holds_one_batch_of_a_large_event_file_at_a_time(store, tmp_path, demo_recipe, monkeypatch):
    run_dir = make_run(tmp_path / "runs", rid("long"), demo_recipe, end=None)
    with EventWriter(events_file(run_dir)) as w:
        for i in range(4000):
            w.emit("log", level="info", message=f"{i} " + "x" * 5000)
        w.emit("end", status="completed")
    size = events_file(run_dir).stat().st_size
    assert size > 20e6
    monkeypatch.setattr(ingest, "BATCH_BYTES", 1 << 20)
    import numpy  # noqa: F401 - imported before measuring (insert_rows imports it)

    with connect(store) as con:
        tracemalloc.start()
        try:
            res = ingest_run(con, run_dir)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert res.status == "completed" and res.stored == 4009
        assert con.execute("SELECT count(*), max(seq) FROM logs").fetchone() == (4000, 4007)
    assert peak < 6 * ingest.BATCH_BYTES < size / 3, f"ingestion held {peak / 1e6:.1f} MB of a {size / 1e6:.1f} MB file"


def test_a_follower_reads_a_large_event_file_in_bounded_batches(tmp_path, monkeypatch):
    from workbench.launch import follow

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    with EventWriter(events_file(run_dir)) as w:
        for i in range(4000):
            w.emit("log", level="info", message=f"{i} " + "x" * 5000)
        w.emit("end", status="completed")
    size = events_file(run_dir).stat().st_size
    monkeypatch.setattr(follow, "FEED_BYTES", 1 << 20)
    feed = follow.EventFeed(run_dir)
    seen, batches = [], 0
    tracemalloc.start()
    try:
        for batch in feed.batches():
            seen += [e.seq for e in batch.events]  # shown, then let go
            batches += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == list(range(4001)) and batches >= size // (3 * follow.FEED_BYTES)
    assert peak < 8 * follow.FEED_BYTES < size / 2, f"the feed held {peak / 1e6:.1f} MB of a {size / 1e6:.1f} MB file"
    assert list(feed.batches()) == []  # nothing shown twice


# --- confusion matrices: sparse, and both forms read alike -------------------------------------------------------

def test_the_confusion_matrix_holds_only_the_cells_that_are_not_zero():
    from workbench.metrics.classes import confusion

    labels = [f"c{i:05d}" for i in range(10_000)]
    gold = [labels[(i * 37) % 10_000] for i in range(500)]
    pred = [labels[(i * 37) % 10_000] if i % 3 else labels[7] for i in range(499)] + [None]
    matrix = confusion(gold, pred, labels)
    cells = [(g, p, n) for g, row in matrix.items() for p, n in row.items()]
    assert all(n > 0 for _, _, n in cells) and sum(n for _, _, n in cells) == 500 and len(cells) <= 500
    assert len(json.dumps(matrix)) < 50_000  # was 10,000 x 10,000 cells: a 1.5 GB event line
    assert list(matrix) == sorted(matrix)  # rows in class order
    assert matrix[labels[0]] == {labels[7]: 1} and matrix[gold[-1]] == {"(none)": 1}
    assert confusion(["a", "b", "b"], ["a", None, "a"], ["b", "a"]) == {"b": {"a": 1, "(none)": 1}, "a": {"a": 1}}


def _run_with_confusion(root, run_id, demo_recipe, matrix, classes):
    run_dir = make_run(root, run_id, demo_recipe, end=None)
    labels = {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1.0} for c in classes}
    with EventWriter(events_file(run_dir)) as w:
        w.emit("eval", phase="tuned", split="validation", step=30, epoch=1.0, labels=labels,
               aggregates={"accuracy": 0.5}, confusion=matrix)
        w.emit("end", status="completed")
    return run_dir


def _show(store, run_id):
    from tests.conftest import workbench

    proc = workbench("show", run_id, store=store, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("confusion matrix (validation)", 1)[1].split("artifacts", 1)[0]


def test_show_reads_a_sparse_and_a_whole_confusion_matrix_alike(tmp_path, demo_recipe):
    classes = ["food", "sport", "tech"]
    whole = {"food": {"food": 3, "sport": 0, "tech": 1}, "sport": {"food": 0, "sport": 0, "tech": 0},
             "tech": {"food": 0, "sport": 2, "tech": 4}}  # runs before: every cell, zeros included
    sparse = {"food": {"food": 3, "tech": 1}, "tech": {"sport": 2, "tech": 4}}
    store = tmp_path / "runs" / "runs.duckdb"
    for run_id, matrix in ((rid("whole"), whole), (rid("sparse"), sparse)):
        run_dir = _run_with_confusion(tmp_path / "runs", run_id, demo_recipe, matrix, classes)
        with connect(store) as con:
            ingest_run(con, run_dir)
    with connect(store) as con:
        assert con.execute("SELECT run_id, count(*) FROM confusion GROUP BY ALL ORDER BY 1").fetchall() == [
            (rid("sparse"), 4), (rid("whole"), 4)]  # the zero cells of the old form are not stored either
    shown = _show(store, rid("whole"))
    assert shown == _show(store, rid("sparse"))
    rows = {line.split()[0]: line.split()[1:] for line in shown.replace("│", " ").splitlines()
            if line.replace("│", " ").split()[:1] in (["food"], ["sport"], ["tech"])}
    assert rows == {"food": ["3", "0", "1"], "sport": ["0", "0", "0"], "tech": ["0", "2", "4"]}


def test_show_lists_the_largest_errors_of_a_matrix_of_many_classes(tmp_path, demo_recipe):
    classes = [f"c{i:03d}" for i in range(300)]
    matrix = {c: {c: 2} for c in classes[:200]}
    matrix["c250"] = {"c007": 9}
    matrix["c260"] = {"c008": 4, "c260": 1}
    store = tmp_path / "runs" / "runs.duckdb"
    run_dir = _run_with_confusion(tmp_path / "runs", rid("many"), demo_recipe, matrix, classes)
    with connect(store) as con:
        ingest_run(con, run_dir)
    shown = _show(store, rid("many"))
    assert "300 classes, 401 of 414 right; the 2 largest errors" in " ".join(shown.split())
    errors = [line.replace("│", " ").split() for line in shown.splitlines() if "c250" in line or "c260" in line]
    assert errors == [["c250", "c007", "9"], ["c260", "c008", "4"]]
    assert "c299" not in shown  # no column per class


# --- prediction files: every score up to eval.scores_all_up_to classes, then the top k ----------------------------

def _table(tmp_path, classes: int, rows: int, multi: bool = False):
    from tests.unit.test_data_forms import splits_of

    path = tmp_path / "p.csv"
    if multi:
        path.write_text("text,label\n" + "".join(f"t{i},c{i % classes:04d}|c{(i + 1) % classes:04d}\n"
                                                 for i in range(max(rows, classes))), encoding="utf-8")
        keys = {"label_column": "label", "label_separator": "|"}
    else:
        path.write_text("text,label\n" + "".join(f"t{i},c{i % classes:04d}\n" for i in range(max(rows, classes))),
                        encoding="utf-8")
        keys = {"label_column": "label"}
    table = splits_of(tmp_path, {"train_file": str(path), "validation_file": str(path), **keys}).train
    return table.subset(list(range(rows)))


def test_prediction_rows_past_the_class_limit_keep_the_top_k_and_the_scores_that_are_needed(tmp_path):
    import numpy as np

    from workbench.tasks.classification import prediction_rows

    table = _table(tmp_path, 50, 6)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(50), size=6).astype(np.float32)
    full = prediction_rows(table, probs, 0.5)
    assert all(len(r["scores"]) == 50 and "scores_top_k" not in r for r in full)
    got = prediction_rows(table, probs, 0.5, top_k=3, keep=["c0042"])
    for r, f, p in zip(got, full, probs):
        top3 = [table.label_names[j] for j in np.argsort(-p)[:3]]
        assert r["scores_top_k"] == 3 and r["predicted"] == f["predicted"] == top3[0] and r["label"] == f["label"]
        assert set(r["scores"]) == {*top3, r["label"], "c0042"}
        assert list(r["scores"].values()) == sorted(r["scores"].values(), reverse=True)
        assert all(r["scores"][k] == f["scores"][k] for k in r["scores"])


def test_multi_label_prediction_rows_past_the_limit_keep_every_predicted_and_gold_label(tmp_path):
    import numpy as np

    from workbench.tasks.classification import prediction_rows

    table = _table(tmp_path, 40, 5, multi=True)
    probs = np.full((5, 40), 0.1, dtype=np.float32)
    probs[:, 30:36] = 0.9  # six labels over the threshold, more than k
    got = prediction_rows(table, probs, 0.5, top_k=2)
    for r in got:
        assert r["scores_top_k"] == 2 and r["predicted"] == [f"c{j:04d}" for j in range(30, 36)]
        assert set(r["scores"]) == set(r["predicted"]) | set(r["labels"]) and len(r["labels"]) == 2


def test_the_class_limit_and_k_are_recipe_knobs(demo_recipe):
    from workbench.recipe import load_recipe
    from workbench.tasks.classification import ClassificationTask

    task = ClassificationTask(load_recipe(demo_recipe, ["eval.scores_all_up_to=100", "eval.scores_top_k=7"]).values)
    assert task.kept(100)["top_k"] is None and task.kept(101)["top_k"] == 7
    assert ClassificationTask(load_recipe(demo_recipe).values).kept(1000)["top_k"] is None  # default: 1,000


def test_flat_scores_are_still_found_in_rows_that_keep_the_top_k_only():
    from workbench.metrics import guardrails

    flat = [{"predicted": "c1", "scores": {"c1": 0.02, "c2": 0.019, f"c{9 + i}": 0.0001}, "scores_top_k": 2}
            for i in range(10)]  # the same top two for every text, and each row's own gold class
    found = guardrails.flat_scores(flat)
    assert found is not None and found.code == "flat_scores"
    varied = [{"predicted": f"c{i}", "scores": {f"c{i}": 0.9, f"c{i + 1}": 0.05}, "scores_top_k": 2} for i in range(10)]
    assert guardrails.flat_scores(varied) is None


def test_a_bad_event_line_limit_is_one_line_and_exit_status_2(tmp_path, demo_recipe):
    from tests.conftest import workbench

    make_run(tmp_path / "runs", rid("r1"), demo_recipe)
    proc = workbench("sync", store=tmp_path / "runs.duckdb", env={"WORKBENCH_EVENT_LINE_LIMIT": "lots"}, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == ("error: WORKBENCH_EVENT_LINE_LIMIT='lots': expected a size in bytes such as 64M, "
                                   "1G or 500000")
    ok = workbench("sync", store=tmp_path / "runs.duckdb", env={"WORKBENCH_EVENT_LINE_LIMIT": "1.5G"}, timeout=300)
    assert ok.returncode == 0 and "synced 1 run folders" in ok.stdout
