"""Valid JSON event lines whose fields do not hold what their type says (events.SHAPES): a metric table
that is a number, groups that are a list, a time that is a string or past year 9999, an `end` status
that is no status, numbers a store column cannot hold. None of them stops ingestion (which every
writer runs through `reckon.record`: tag, rm, sync, the app's list): an event that cannot be taken is
an error log row with its seq naming file and line, a number or string of another kind is NULL, an
unknown end status is failed saying what it said, and the rest of the run is stored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_store import make_run, rid
from workbench.events import TYPES, read_events
from workbench.launch.follow import EventFeed
from workbench.launch.watch import RunWatch
from workbench.rundir import events_file
from workbench.store.db import connect
from workbench.store.ingest import ingest_run

RUN = rid("bad")
T0 = 1_770_000_000.0


def line(seq: int, type_: str, **fields) -> bytes:
    return json.dumps({"seq": seq, "t": T0 + seq, "type": type_, **fields}).encode() + b"\n"


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def run_dir(tmp_path, demo_recipe) -> Path:
    """A run mid-training: start, model, 3 steps, base and tuned evaluations, adapter (seq 0..7)."""
    return make_run(tmp_path / "runs", RUN, demo_recipe, end=None)


def append(run_dir: Path, *lines: bytes) -> int:
    """Append lines; the line number of the first."""
    path = events_file(run_dir)
    first = len(path.read_bytes().splitlines()) + 1
    with open(path, "ab") as f:
        f.write(b"".join(lines))
    return first


def q(store: Path, sql: str, *params):
    with connect(store) as con:
        return con.execute(sql, list(params)).fetchall()


UNFIT = {  # one event, and what the error row says of it
    "labels not a table": (line(8, "eval", phase="tuned", split="validation", labels={"ad": 0.5}),
                           'labels is {"ad": 0.5}, expected an object of objects'),
    "confusion rows not objects": (line(8, "eval", phase="tuned", split="validation", confusion={"a": [1, 2]}),
                                   'confusion is {"a": [1, 2]}, expected an object of objects'),
    "groups a list": (line(8, "eval", phase="tuned", split="validation", groups=[{"examples": 3}]),
                      'groups is [{"examples": 3}], expected an object of objects'),
    "aggregates a list": (line(8, "eval", phase="tuned", split="validation", aggregates=[0.5]),
                          "aggregates is [0.5], expected an object"),
    "t a string": (json.dumps({"seq": 8, "t": "yesterday", "type": "end", "status": "completed"}).encode() + b"\n",
                   't is "yesterday", expected unix seconds'),
    "t past year 9999": (json.dumps({"seq": 8, "t": 1e20, "type": "end", "status": "completed"}).encode() + b"\n",
                         "t is 1e+20, expected unix seconds"),
    "t not a number": (b'{"seq": 8, "t": NaN, "type": "start", "run_id": "x"}\n', "t is NaN, expected unix seconds"),
    "warnings items a number": (line(8, "warnings", items=5), "items is 5, expected a list"),
    "resumed step a string": (line(8, "start", run_id=RUN, attempt=2, resumed={"step": "x", "base_kept": []}),
                              'resumed is {"step": "x", "base_kept": []}, expected an object with a number "step"'),
}


@pytest.mark.parametrize("case", list(UNFIT))
def test_an_event_that_cannot_be_taken_is_an_error_row_and_the_rest_of_the_run_is_stored(store, run_dir, case):
    text, said = UNFIT[case]
    at = append(run_dir, text, line(9, "step", step=40, loss=0.1), line(10, "end", status="completed", error=None))
    with connect(store) as con:
        res = ingest_run(con, run_dir)
    kind = json.loads(text.replace(b"NaN", b"0"))["type"]
    (warning,) = res.warnings
    assert warning.startswith(f"{events_file(run_dir)}:{at}: the {kind} event (seq 8): {said}"), warning
    assert warning.endswith(": skipped, the rest of the run is read")
    assert q(store, "SELECT seq, level, message FROM logs WHERE seq = 8") == [(8, "error", warning)]
    assert q(store, "SELECT status, last_seq FROM runs") == [("completed", 10)]
    assert q(store, "SELECT max(step), count(*) FROM steps") == [(40, 4)]
    assert res.stored == 11


def test_an_end_whose_status_is_no_status_is_failed_saying_what_it_said(store, run_dir):
    append(run_dir, line(8, "end", status=5, error="out of disk"))
    with connect(store) as con:
        res = ingest_run(con, run_dir)
    assert res.status == "failed"
    assert q(store, "SELECT status, error FROM runs") == [
        ("failed", "its end event said status 5, none of completed, failed, interrupted, pruned: out of disk")]
    (end,) = [e for e in read_events(events_file(run_dir)).events if e.type == "end"]
    assert (end.status, end.error) == ("failed", "its end event said status 5, none of completed, failed, "
                                                 "interrupted, pruned: out of disk")  # every reader reads the same


def test_numbers_and_strings_of_another_kind_are_null_and_the_event_stored(store, run_dir):
    """A scalar field of another kind (a string where a number goes, a list where a string goes) or a
    number no column holds (past 32 bits for pid and rank, 64 for byte counts, a double's range, an
    infinite count) is NULL; the event and its other fields are stored."""
    append(run_dir,
           line(8, "start", run_id=RUN, host={"name": "gpubox"}, world_size="two", pid=2 ** 40, attempt=1),
           line(9, "model", trainable_params="many", total_params=10 ** 30, quantized={"bits": 4}),
           line(10, "telemetry", host=["h"], rank=2 ** 40, gpu=0, util=50.0, mem_used=10 ** 30, mem_total=2 ** 34),
           line(11, "log", level=["error"], message=5),
           line(12, "artifact", kind="adapter", path="adapter", bytes="big"),
           line(13, "summary", peak_mem_bytes=10 ** 30, optimizer=5, train_runtime_s=10 ** 400),
           json.dumps({"seq": 14, "t": T0, "type": "eval", "phase": "tuned", "split": "test",
                       "labels": {"ad": {"f1": 10 ** 400, "support": "x"}},
                       "confusion": {"ad": {"ad": float("inf"), "tox": 3}},
                       "groups": {"g": {"examples": float("nan"), "fpr": "high", "flagged": 1}},
                       "bias": {"toxic": {"groups": [{"group": 7, "group_column": ["x"], "positives": "many",
                                                      "bpsn_auc": "low", "reasons": "none", "flagged": 0},
                                                     "not a row"]}}}).encode() + b"\n",
           line(15, "end", status="completed", error=["disk"]))
    with connect(store) as con:
        res = ingest_run(con, run_dir)
    assert res.warnings == [] and res.stored == 16 and res.status == "completed"
    assert q(store, "SELECT host, world_size, pid, trainable_params, total_params, quantized, saved_bytes, "
                    "peak_mem_bytes, optimizer, train_runtime_s, error FROM runs") == [(None,) * 11]
    assert q(store, "SELECT host, rank, gpu, util, mem_used, mem_total FROM telemetry WHERE seq = 10") == [
        (None, None, 0, 50.0, None, 2 ** 34)]
    assert q(store, "SELECT level, message FROM logs WHERE seq = 11") == [(None, None)]
    assert q(store, "SELECT metric, value FROM evals WHERE seq = 14 ORDER BY metric") == [
        ("f1", None), ("support", None)]
    assert q(store, "SELECT predicted, n FROM confusion WHERE seq = 14 ORDER BY predicted") == [
        ("ad", None), ("tox", 3)]
    assert q(store, "SELECT grp, examples, fpr, flagged, group_column, positive_class, positives, bpsn_auc, reason "
                    "FROM fairness WHERE seq = 14 ORDER BY grp") == [
        ("7", None, None, False, None, "toxic", None, None, None), ("g", None, None, True, None, None, None, None, None)]


def test_a_seq_that_is_no_seq_makes_the_line_unreadable(store, run_dir):
    at = append(run_dir, b'{"seq": true, "t": 1, "type": "log"}\n', b'{"seq": 100000000000000000000, "type": "log"}\n',
                b'{"seq": -3, "type": "log"}\n', line(8, "step", step=40))
    with connect(store) as con:
        res = ingest_run(con, run_dir)
    assert [w.split(": skipped")[0] for w in res.warnings] == [f"{events_file(run_dir)}:{at + i}" for i in range(3)]
    assert q(store, "SELECT count(*) FROM logs") == [(0,)]
    assert q(store, "SELECT last_seq FROM runs") == [(8,)]


# --- any value in any field: every reader goes on ------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2 ** 80, max_value=2 ** 80)
                    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=8)
FIELDS = sorted({"t", *(name for cls in TYPES.values() for name in cls.NAMES), "bytes"})


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(TYPES)), fields=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4))
def test_any_value_in_any_field_is_stored_or_stood_in_for(store, run_dir, kind, fields):
    """Ingestion, a follower's feed and the live watch take any valid JSON event: the event itself, or
    (when it cannot be taken) the error row in its place; a cached layout and the plain reading agree."""
    from workbench.events import SHAPES, _parse, _parse_generic

    if not store.exists():  # the examples share the run and its store: its first events stored once
        with connect(store) as con:
            ingest_run(con, run_dir)
    seq = q(store, "SELECT last_seq + 1 FROM runs")[0][0]
    event = {"seq": seq, "type": kind, **fields}
    append(run_dir, json.dumps(event).encode() + b"\n")
    with connect(store) as con:
        res = ingest_run(con, run_dir)
    assert res.stored == 1 and res.last_seq == seq, res
    feed = EventFeed(run_dir)
    shown = [e for batch in feed.batches() for e in batch.events]
    assert shown[-1].seq == seq
    RunWatch(RUN, run_dir).apply(shown)
    decoded = json.loads(json.dumps(event))  # NaN and infinities as the file has them
    try:
        cached = _parse(decoded, True)
    except ValueError as e:
        with pytest.raises(type(e)):
            _parse_generic(TYPES[kind], decoded, True)
        return
    plain = _parse_generic(TYPES[kind], decoded, True)
    assert _same(cached, plain)
    for name, shape in SHAPES[TYPES[kind]].items():
        value = getattr(cached, name)
        assert value is None or shape.test(value) if callable(shape.test) else type(value) in shape.test, name


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    for name in ("seq", "t", "type", "extra", *type(a).NAMES):
        x, y = getattr(a, name), getattr(b, name)
        if not (x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))):
            if json.dumps(x) != json.dumps(y):
                return False
    return True
