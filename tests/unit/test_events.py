"""The event-file contract: EventWriter and read_events on real files."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from workbench import events as events_module
from workbench import rundir
from workbench.events import TYPES, Artifact, End, Eval, Event, EventWriter, Log, Step, parse_event, read_events


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_writer_numbers_events_from_zero_and_writes_json_lines(tmp_path):
    path = rundir.events_file(tmp_path)
    before = time.time()
    with EventWriter(path) as w:
        returned = [w.emit("log", level="info", message=f"m{i}") for i in range(5)]
        # Each line reaches the file at once (line-flushed), before close.
        assert len(lines_of(path)) == 5
    after = time.time()
    lines = lines_of(path)
    assert len(lines) == 5
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == [0, 1, 2, 3, 4]
    assert events == returned
    for i, e in enumerate(events):
        assert e["type"] == "log" and e["message"] == f"m{i}"
        assert before <= e["t"] <= after
    assert path.read_bytes().endswith(b"\n")


def test_writer_serialises_paths_tuples_and_numpy_like_scalars(tmp_path):
    class Scalar:  # numpy / torch scalars have .item()
        def item(self):
            return 0.5

    with EventWriter(rundir.events_file(tmp_path)) as w:
        w.emit("artifact", kind="adapter", path=tmp_path / "adapter", shape=(1, 2), loss=Scalar())
    ev = read_events(rundir.events_file(tmp_path)).events[0]
    assert ev["path"] == str(tmp_path / "adapter")
    assert ev["shape"] == [1, 2]
    assert ev["loss"] == 0.5


def test_reopening_continues_seq(tmp_path):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        for _ in range(3):
            w.emit("step")
    with EventWriter(path) as w:
        ev = w.emit("step")
        assert ev["seq"] == 3
        w.emit("end", status="completed")
    seqs = [e["seq"] for e in read_events(path).events]
    assert seqs == [0, 1, 2, 3, 4]


def test_reopening_after_torn_line_starts_clean(tmp_path):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        w.emit("start")
        w.emit("step")
    with open(path, "ab") as f:
        f.write(b'{"seq":2,"t":1,"ty')  # a writer killed mid-line
    with EventWriter(path) as w:
        ev = w.emit("end", status="failed")
    assert ev["seq"] == 2  # the torn event never counted
    res = read_events(path)
    assert [e["type"] for e in res.events] == ["start", "step", "end"]
    assert [e["seq"] for e in res.events] == [0, 1, 2]
    assert len(res.warnings) == 1 and f"{path}:3:" in res.warnings[0]  # the terminated torn line


def test_torn_last_line_is_left_unread_until_completed(tmp_path):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        w.emit("start")
        w.emit("step", step=1)
    complete_size = path.stat().st_size
    torn = json.dumps({"seq": 2, "t": 1.0, "type": "step", "step": 2})
    with open(path, "ab") as f:
        f.write(torn[:10].encode())
    res = read_events(path)
    assert [e["seq"] for e in res.events] == [0, 1]
    assert res.offset == complete_size
    assert res.line == 2
    assert res.warnings == []
    # Reading again from where we stopped: nothing new while the line is torn.
    again = read_events(path, res.offset, res.line)
    assert again.events == [] and again.offset == complete_size and again.line == 2
    # The writer finishes the line: now it is returned.
    with open(path, "ab") as f:
        f.write(torn[10:].encode() + b"\n")
    done = read_events(path, res.offset, res.line)
    assert [e["seq"] for e in done.events] == [2]
    assert done.events[0]["step"] == 2
    assert done.offset == path.stat().st_size
    assert done.line == 3


def test_garbage_complete_line_is_skipped_with_warning(tmp_path):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        w.emit("start")
    with open(path, "ab") as f:
        f.write(b"this is not json\n")
        f.write(b'{"no_seq": true, "type": "x"}\n')
        f.write(b"\n")  # blank lines are not events and not warnings
    with EventWriter(path) as w:
        w.emit("end", status="completed")
    res = read_events(path)
    assert [e["type"] for e in res.events] == ["start", "end"]
    assert len(res.warnings) == 2
    assert res.warnings[0].startswith(f"{path}:2: ")
    assert res.warnings[1].startswith(f"{path}:3: ")
    # The writer continued after the last good event.
    assert res.events[-1]["seq"] == 1


def test_reading_from_offset_returns_only_later_events(tmp_path):
    path = rundir.events_file(tmp_path)
    w = EventWriter(path)
    for i in range(3):
        w.emit("step", step=i)
    first = read_events(path)
    assert [e["seq"] for e in first.events] == [0, 1, 2]
    for i in range(3, 5):
        w.emit("step", step=i)
    w.close()
    later = read_events(path, first.offset, first.line)
    assert [e["seq"] for e in later.events] == [3, 4]
    assert later.line == 5
    assert read_events(path, later.offset, later.line).events == []


def test_garbage_line_number_counts_from_file_start_when_reading_from_offset(tmp_path):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        w.emit("start")
        w.emit("step")
    first = read_events(path)
    with open(path, "ab") as f:
        f.write(b"{broken\n")
    res = read_events(path, first.offset, first.line)
    assert res.events == []
    assert res.warnings and res.warnings[0].startswith(f"{path}:3: ")


def test_missing_file_reads_as_nothing(tmp_path):
    res = read_events(tmp_path / "none.jsonl", 0, 0)
    assert res.events == [] and res.offset == 0 and res.line == 0


def test_writer_is_thread_safe(tmp_path):
    path = rundir.events_file(tmp_path)
    w = EventWriter(path)
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(200):
            w.emit("telemetry", rank=n, i=i, payload="x" * 50)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    lines = lines_of(path)
    assert len(lines) == 800
    events = [json.loads(line) for line in lines]  # no interleaved / torn lines
    assert [e["seq"] for e in events] == list(range(800))  # distinct, consecutive, in file order
    for n in range(4):
        assert [e["i"] for e in events if e["rank"] == n] == list(range(200))
    res = read_events(path)
    assert len(res.events) == 800 and not res.warnings


def test_each_line_is_read_as_the_typed_event_of_its_type(tmp_path):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        w.emit("step", step=3, max_steps=10, epoch=0.3, loss=1.25, lr=1e-4)
        w.emit("eval", phase="epoch", step=3, labels={"a": {"f1": 0.5}}, aggregates={"f1_micro": 0.5})
        w.emit("artifact", kind="adapter", path="adapter", bytes=1234, rows=7)
        w.emit("log", message="hello")
        w.emit("end")
        w.emit("novel", what=1)
    step, ev, art, log, end, novel = read_events(path).events
    assert isinstance(step, Step) and (step.seq, step.step, step.loss, step.grad_norm) == (0, 3, 1.25, None)
    # A field a line lacks takes its class default, as the contract reads it.
    assert isinstance(ev, Eval) and (ev.phase, ev.split, ev.labels["a"]["f1"]) == ("epoch", "validation", 0.5)
    assert isinstance(log, Log) and (log.level, log.message) == ("info", "hello")
    assert isinstance(end, End) and (end.status, end.error) == ("failed", None)
    # Nothing is lost: fields a type does not name stay in the line (`raw`, `extra()`, `get`).
    assert isinstance(art, Artifact) and (art.kind, art.path) == ("adapter", "adapter")
    assert art.extra == {"bytes": 1234, "rows": 7} and art.get("bytes") == 1234 and art["rows"] == 7
    assert step.extra is None and step["loss"] == 1.25 and step.get("nothing", 0) == 0
    # An unknown type stays a plain event with its fields in `extra`.
    assert type(novel) is Event and novel.type == "novel" and novel.get("what") == 1 and novel.extra == {"what": 1}


def test_a_cached_layout_builds_what_the_generic_parse_builds():
    """parse_event makes one constructor per line layout; each must build what the plain reading does:
    present keys, absent ones (their defaults), extra keys (in line order), a missing t, an unknown type."""
    from workbench.events import _parse_generic

    lines = [{"seq": 1, "t": 2.0, "type": "telemetry", "host": "h", "rank": 0, "gpu": 1, "util": 50.0},
             {"seq": 2, "t": 3.0, "type": "telemetry", "host": "h", "rank": 0, "cpu_pct": 12.0, "rss_bytes": 7},
             {"seq": 3, "type": "log", "message": "no t, no level", "x'\"y": 1},
             {"seq": 4, "t": 1.0, "type": "artifact", "rows": 3, "kind": "predictions", "path": "p", "split": "test"},
             {"seq": 5, "t": 1.0, "type": "mystery", "a": [1], "b": None},
             {"seq": 6, "t": None, "type": "eval", "phase": "base", "split": None}]
    for d in lines:
        for _ in range(2):  # the first builds the layout's constructor, the second uses it
            got, want = parse_event(d), _parse_generic(TYPES.get(d["type"], Event), d)
            assert type(got) is type(want)
            assert {name: getattr(got, name) for name in ("seq", "t", "type", "extra", *got.NAMES)} == \
                   {name: getattr(want, name) for name in ("seq", "t", "type", "extra", *want.NAMES)}
    assert list(parse_event(lines[3]).extra) == ["rows", "split"]
    assert parse_event(lines[2]).extra == {"x'\"y": 1} and parse_event(lines[2]).level == "info"
    assert parse_event(lines[5]).split is None  # written as null: stays null, the default is for absent keys


def test_every_type_of_the_contract_has_its_class():
    assert set(TYPES) == {"start", "model", "step", "eval", "telemetry", "checkpoint", "summary", "artifact", "log",
                          "warnings", "tracking", "targets", "end"}
    for name, cls in TYPES.items():
        e = parse_event({"seq": 5, "t": 1.0, "type": name})
        assert type(e) is cls and (e.seq, e.t, e.type) == (5, 1.0, name)


# --- event files of any size: read in batches, a line over the limit skipped (issue 25, item 2) ---------------

def _eval_line(seq: int, labels: int) -> bytes:
    """An eval event of `labels` per-label rows, as the trainer writes it."""
    event = {"seq": seq, "t": 1.5, "type": "eval", "phase": "base", "split": "validation",
             "labels": {f"c{i:06d}": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1.0} for i in range(labels)}}
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def test_an_event_line_over_the_limit_reads_as_an_error_naming_file_and_line(tmp_path, monkeypatch):
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        w.emit("start")
    with open(path, "ab") as f:
        f.write(_eval_line(1, 1000))  # ~75 KB
    with EventWriter(path) as w:
        w.emit("end", status="completed")
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "4K")
    res = read_events(path)
    assert [e.type for e in res.events] == ["start", "log", "end"]
    skipped = res.events[1]
    assert isinstance(skipped, Log) and skipped.level == "error" and skipped.seq == 1 and skipped.t == 1.5
    assert skipped.message.startswith(f"{path}:2: the eval event (seq 1) is ")
    assert "over the 4.0 KiB limit of one event line" in skipped.message and "WORKBENCH_EVENT_LINE_LIMIT" in skipped.message
    assert res.warnings == [] and res.offset == path.stat().st_size and res.line == 3
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "1M")  # under the limit: read as it is
    assert [e.type for e in read_events(path).events] == ["start", "eval", "end"]


def test_a_line_over_the_limit_is_never_held_in_memory(tmp_path, monkeypatch):
    import tracemalloc

    import workbench.events as events_module

    path = rundir.events_file(tmp_path)
    with open(path, "wb") as f:
        f.write(b'{"seq":0,"t":1,"type":"start"}\n')
        f.write(_eval_line(1, 400_000))  # ~30 MB
        f.write(b'{"seq":2,"t":2,"type":"end","status":"completed"}\n')
    size = path.stat().st_size
    assert size > 25e6
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "1M")
    tracemalloc.start()
    try:
        res = read_events(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [e.type for e in res.events] == ["start", "log", "end"]
    assert peak < 3 * events_module.CHUNK_BYTES < size / 2, f"reading held {peak / 1e6:.1f} MB of a {size / 1e6:.1f} MB file"


def test_reading_in_batches_returns_every_event_once_in_order(tmp_path, monkeypatch):
    import workbench.events as events_module

    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        for i in range(200):
            w.emit("log", message="x" * (i % 7) * 40)
    with open(path, "ab") as f:
        f.write(_eval_line(200, 300))  # ~22 KB: longer than a chunk, under the limit
        f.write(_eval_line(201, 300)[:5000])  # and a long torn last line
    monkeypatch.setattr(events_module, "CHUNK_BYTES", 1024)
    seqs: list[int] = []
    offset = line = batches = 0
    more = True
    while more:
        res = read_events(path, offset, line, max_bytes=2048)
        assert res.offset - offset <= 2048 + 1024 or any(e.type == "eval" for e in res.events)  # + one long line
        seqs += [e.seq for e in res.events]
        offset, line, more, batches = res.offset, res.line, res.more, batches + 1
    assert seqs == list(range(201)) and batches > 10
    assert read_events(path).events[-1].get("labels")["c000299"]["support"] == 1.0
    assert offset == path.stat().st_size - 5000 and line == 201  # the torn line left unread
    with open(path, "ab") as f:
        f.write(_eval_line(201, 300)[5000:])
    res = read_events(path, offset, line, max_bytes=2048)
    assert [e.seq for e in res.events] == [201] and not res.more and res.offset == path.stat().st_size


def test_batches_of_any_size_read_what_one_read_reads(tmp_path, monkeypatch):
    import random

    import workbench.events as events_module

    rnd = random.Random(4)
    path = rundir.events_file(tmp_path)
    with EventWriter(path) as w:
        for _ in range(300):
            w.emit("log", message="y" * rnd.choice((0, 10, 100, 700, 3000)))
    with open(path, "ab") as f:
        f.write(b"not an event\n" + b'{"seq":300,"t":1,"type":"log","message":"' + b"z" * 2500)  # + a torn line
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "2K")
    whole = read_events(path)
    assert len(whole.events) == 300 and len(whole.warnings) == 1
    assert sum(e.type == "log" and e.level == "error" for e in whole.events) > 10  # the 3000-byte lines
    for chunk in (64, 1000, 4096):
        monkeypatch.setattr(events_module, "CHUNK_BYTES", chunk)
        for max_bytes in (1, 500, 5000, None):
            got, warnings, res = [], [], events_module.ReadResult([], 0, 0, more=True)
            while res.more:
                res = read_events(path, res.offset, res.line, max_bytes=max_bytes)
                got += [(e.seq, e.type, e.get("message")) for e in res.events]
                warnings += res.warnings
            assert got == [(e.seq, e.type, e.get("message")) for e in whole.events], (chunk, max_bytes)
            assert (res.offset, res.line, warnings) == (whole.offset, whole.line, whole.warnings), (chunk, max_bytes)


def test_the_last_event_is_found_behind_a_line_over_the_limit_without_holding_it(tmp_path, monkeypatch):
    import tracemalloc

    from workbench.events import last_event

    path = rundir.events_file(tmp_path)
    with open(path, "wb") as f:
        f.write(b'{"seq":0,"t":1,"type":"start","pid":4242}\n')
        f.write(_eval_line(1, 300_000))  # ~20 MB: an old run's whole confusion matrix, say
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "1M")
    tracemalloc.start()
    try:
        start = last_event(path, ("start",))
        last = last_event(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert start is not None and start.get("pid") == 4242
    assert last is not None and last.seq == 0  # the line over the limit is passed over, as an unreadable one
    assert peak < 4 << 20, f"held {peak / 1e6:.1f} MB"  # a few times the limit, not the 20 MB line
    monkeypatch.setenv("WORKBENCH_EVENT_LINE_LIMIT", "64M")  # under the limit: it is the last event
    assert last_event(path).type == "eval"


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_deleted_event_file_is_written_back_whole_at_the_next_event(tmp_path, monkeypatch):
    """events.jsonl deleted while the run goes on: the writer puts its whole stream back (from the
    file it holds open) before its next event, and says so; no event is lost from the folder."""
    monkeypatch.setattr(events_module, "FOLDER_CHECK_S", 0.0, raising=False)  # the folder checked at every event
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        for i in range(5):
            w.emit("step", step=i)
        path.unlink()
        w.emit("step", step=5)
        w.emit("end", status="completed")
    events = _lines(path)
    assert [e["seq"] for e in events] == list(range(8))
    assert [e.get("step") for e in events[:5]] == list(range(5))
    note = events[5]
    assert note["type"] == "log" and note["level"] == "warning"
    assert "deleted or replaced" in note["message"] and "seq 0 to 4" in note["message"]
    assert events[6]["step"] == 5 and events[7]["type"] == "end"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]  # no temporary file left


def test_a_replaced_event_file_is_kept_aside_and_the_stream_written_back(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        for i in range(6):
            w.emit("step", step=i)
        other = tmp_path / "copy"
        other.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:2]), encoding="utf-8")
        os.replace(other, path)  # a restore of an older copy, renamed over the file
        w.emit("end", status="completed")  # the folder is checked before every end, however soon
    events = _lines(path)
    assert [e["seq"] for e in events] == list(range(8)) and events[-1]["type"] == "end"
    (displaced,) = tmp_path.glob("events.jsonl.displaced-*")
    assert [e["seq"] for e in _lines(displaced)] == [0, 1]
    assert displaced.name in events[6]["message"]


def _gone_and_back(tmp_path: Path, take_away) -> list[dict]:
    """Three events, `take_away(path)`, three more and an end: what events.jsonl holds then (checked
    only where the writer must: before `end`)."""
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        for i in range(3):
            w.emit("step", step=i)
        take_away(path)
        for i in range(3, 6):
            w.emit("step", step=i)
        w.emit("end", status="completed")
    return _lines(path)


def _whole(events: list[dict]) -> None:
    assert [e["seq"] for e in events] == list(range(len(events))) and events[-1]["type"] == "end"
    assert [e["step"] for e in events if e["type"] == "step"] == list(range(6))
    (note,) = [e for e in events if e["type"] == "log"]
    assert note["message"].startswith("events.jsonl was deleted or replaced while the run went on: its whole stream")


def test_an_event_file_moved_away_is_written_back_and_the_moved_file_left_alone(tmp_path):
    """`mv events.jsonl events.bak`: the file written still has a name (its link count stays 1), but not
    the run's name: the stream is written back under it."""
    events = _gone_and_back(tmp_path, lambda path: os.rename(path, tmp_path / "events.bak"))
    _whole(events)
    assert [e["seq"] for e in _lines(tmp_path / "events.bak")][:3] == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.bak", "events.jsonl"]


def test_an_event_file_deleted_after_a_hard_linked_backup_is_written_back(tmp_path):
    """`ln events.jsonl backup.jsonl; rm events.jsonl`: the file written keeps a name (the backup's)."""
    events = _gone_and_back(tmp_path, lambda path: (os.link(path, tmp_path / "backup.jsonl"), path.unlink()))
    _whole(events)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.jsonl", "events.jsonl"]


def test_two_files_renamed_over_the_stream_in_one_second_are_both_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(events_module, "FOLDER_CHECK_S", 0.0, raising=False)
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        for i, text in enumerate(("first restore\n", "second restore\n")):
            w.emit("step", step=i)
            other = tmp_path / "copy"
            other.write_text(text, encoding="utf-8")
            os.replace(other, path)
        w.emit("end", status="completed")
    kept = sorted(tmp_path.glob("events.jsonl.displaced-*"), key=lambda p: p.stat().st_mtime_ns)
    assert len(kept) == 2, kept
    assert sorted(p.read_text(encoding="utf-8") for p in kept) == ["first restore\n", "second restore\n"]
    events = _lines(path)
    assert [e["seq"] for e in events] == list(range(5)) and events[-1]["type"] == "end"
    assert {p.name for p in kept} == {e["message"].rsplit(" ", 1)[1] for e in events if e["type"] == "log"}


def test_a_folder_the_writer_cannot_check_never_stops_it(tmp_path, monkeypatch):
    """A check of the folder that fails (a stale NFS handle; here the run folder's path is a file now, so
    stat says ENOTDIR) is passed over: every event is written to the file the writer holds."""
    monkeypatch.setattr(events_module, "FOLDER_CHECK_S", 0.0, raising=False)
    run = tmp_path / "run"
    run.mkdir()
    with EventWriter(run / "events.jsonl") as w:
        w.emit("step", step=0)
        run.rename(tmp_path / "moved")
        run.write_text("not a folder")
        w.emit("step", step=1)
        w.emit("end", status="completed")
    assert [e["seq"] for e in _lines(tmp_path / "moved" / "events.jsonl")] == [0, 1, 2]

