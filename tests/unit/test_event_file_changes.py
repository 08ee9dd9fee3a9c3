"""An event file that changed under its readers (truncated, truncated and written past the point read,
replaced by another file, deleted): ingestion notices (the file is shorter than what was read, or its
first bytes or the bytes before the offset are not those read), reads it again from its start, stores
every event of the file exactly once, and records what happened as a warning in the run's log, which
`show` and the app's run detail show. A follower's EventFeed says so too."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.unit.test_store import make_run, rid
from workbench import rundir
from workbench.events import FileMark, read_from
from workbench.launch.follow import EventFeed
from workbench.rundir import events_file
from workbench.store import read
from workbench.store.db import connect
from workbench.store.ingest import ingest_run
from workbench.store.schema import SCHEMA_VERSION

RUN = rid("trunc")
T0 = 1_770_000_000.0


def line(seq: int, type_: str = "step", t: float | None = None, **fields) -> bytes:
    return json.dumps({"seq": seq, "t": T0 + seq if t is None else t, "type": type_, **fields}).encode() + b"\n"


def steps(first_seq: int, n: int, first_step: int = 1) -> bytes:
    return b"".join(line(first_seq + i, step=first_step + i, loss=1.0 / (first_step + i)) for i in range(n))


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "runs.duckdb"


def telemetry(seq: int) -> bytes:
    return line(seq, "telemetry", host="gpubox", rank=0, gpu=0, util=97.0, mem_used=2 ** 33, mem_total=2 ** 36,
                power_w=250.0, temp_c=61.0)


@pytest.fixture
def run_dir(tmp_path, demo_recipe) -> Path:
    """A run mid-training: start, model, and 26 steps each with a GPU sample (seq 0..53)."""
    d = make_run(tmp_path / "runs", RUN, demo_recipe, end=None)
    head = events_file(d).read_bytes().split(b"\n")[:2]  # its start and model events
    body = b"".join(steps(2 + 2 * i, 1, first_step=1 + i) + telemetry(3 + 2 * i) for i in range(26))
    events_file(d).write_bytes(b"\n".join(head) + b"\n" + body)
    return d


def ingest(store: Path, run_dir: Path):
    with connect(store) as con:
        return ingest_run(con, run_dir)


def stored_steps(store: Path) -> list[tuple[int, int]]:
    with connect(store) as con:
        return con.execute("SELECT seq, step FROM steps WHERE run_id = ? ORDER BY seq", [RUN]).fetchall()


def file_steps(run_dir: Path, name: str = "events.jsonl") -> list[tuple[int, int]]:
    rows = [json.loads(x) for x in (run_dir / name).read_bytes().splitlines()]
    return [(r["seq"], r["step"]) for r in rows if r["type"] == "step"]


def notes(store: Path) -> list[str]:
    with connect(store) as con:
        return read.record_notes(con, RUN)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_truncated_mid_run_then_written_on_every_event_in_the_file_is_stored(store, run_dir):
    """The issue's case: truncated while the trainer goes on (its numbering goes on too): the file is
    shorter than the offset stored, 22 steps that are in it must reach the store."""
    first = ingest(store, run_dir)
    assert first.stored == 54 and first.warnings == []
    path = events_file(run_dir)
    size = path.stat().st_size
    path.write_bytes(b"".join(lines_of(path)[:10]) + steps(54, 22, first_step=27))  # truncated, then 22 more
    assert path.stat().st_size < size
    res = ingest(store, run_dir)
    assert (res.stored, res.last_seq) == (22, 75)
    assert stored_steps(store) == sorted(set(file_steps(run_dir)) | set(stored_steps(store)))
    assert set(file_steps(run_dir)) <= set(stored_steps(store))
    assert len(stored_steps(store)) == 26 + 22  # the steps cut from the file stay: they happened
    (warning,) = res.warnings
    (note,) = res.notes
    assert warning == f"{run_dir}/{note}"
    assert note.startswith("events.jsonl shrank to ") and note.endswith("; read again from its start"), note
    assert notes(store) == [note]
    # once: the next ingest finds nothing new to say
    assert ingest(store, run_dir).warnings == [] and notes(store) == [note]


def test_truncated_then_written_past_the_point_read_is_noticed(store, run_dir):
    """Shorter, then longer again than what was read before the next ingest (`sync` a day later): the
    bytes before the stored offset are not those read."""
    ingest(store, run_dir)
    path = events_file(run_dir)
    size = path.stat().st_size
    path.write_bytes(b"".join(lines_of(path)[:5]) + steps(54, 80, first_step=27))
    assert path.stat().st_size > size
    res = ingest(store, run_dir)
    assert (res.stored, res.last_seq) == (80, 133)
    assert set(file_steps(run_dir)) <= set(stored_steps(store))
    (note,) = res.notes
    assert note.startswith("events.jsonl changed before the ") and "read again from its start" in note


def test_a_file_started_over_with_later_events_adds_them_all(store, run_dir):
    """Deleted and written anew by a writer that goes on numbering: other first bytes, no seq already
    stored: every event is new."""
    ingest(store, run_dir)
    path = events_file(run_dir)
    path.unlink()
    path.write_bytes(steps(54, 5, first_step=27) + line(59, "end", status="completed", error=None))
    res = ingest(store, run_dir)
    assert (res.stored, res.last_seq) == (6, 59)
    assert res.status == "completed"
    assert len(stored_steps(store)) == 26 + 5
    (note,) = res.notes
    assert note.startswith("events.jsonl was replaced (its first bytes are not those read before)"), note


def test_a_replaced_file_with_other_events_under_stored_seqs_is_read_alone(store, run_dir, tmp_path):
    """Another stream (a training started over from seq 0): the store follows the file, as a rebuild
    from the folder would, and says the earlier file's events left it."""
    ingest(store, run_dir)
    path = events_file(run_dir)
    start, model = lines_of(path)[:2]
    start_obj = json.loads(start)
    start_obj["t"] += 3600  # another start: another time
    path.write_bytes(json.dumps(start_obj).encode() + b"\n" + model + steps(2, 10, first_step=100))
    res = ingest(store, run_dir)
    (note,) = res.notes
    assert note.startswith("events.jsonl was replaced (its first bytes are not those read before), and holds "
                           "other events than those stored from it"), note
    assert stored_steps(store) == file_steps(run_dir)  # steps 100..109, the earlier 1..26 gone
    fresh = tmp_path / "fresh.duckdb"
    ingest(fresh, run_dir)
    with connect(store) as a, connect(fresh) as b:
        for table in ("steps", "evals", "params"):
            sql = f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY ALL"
            assert a.execute(sql).fetchall() == b.execute(sql).fetchall(), table
    assert notes(store) == [note]


def test_a_rank_file_truncated_is_read_again(store, run_dir):
    rank = run_dir / "events.rank1.jsonl"
    telemetry = [line(i, "telemetry", host="h", rank=1, cpu_pct=10.0 + i, rss_bytes=1) for i in range(20)]
    rank.write_bytes(b"".join(telemetry))
    ingest(store, run_dir)
    rank.write_bytes(b"".join(telemetry[:4]) + line(20, "telemetry", host="h", rank=1, cpu_pct=99.0, rss_bytes=1))
    res = ingest(store, run_dir)
    (note,) = res.notes
    assert note.startswith("events.rank1.jsonl shrank to ")
    with connect(store) as con:
        got = con.execute("SELECT seq, cpu_pct FROM telemetry WHERE run_id = ? AND rank = 1 ORDER BY seq",
                          [RUN]).fetchall()
    assert got == [(i, 10.0 + i) for i in range(20)] + [(20, 99.0)]


def test_an_unchanged_file_is_read_on_without_a_word(store, run_dir):
    ingest(store, run_dir)
    with open(events_file(run_dir), "ab") as f:
        f.write(steps(54, 3, first_step=27))
    res = ingest(store, run_dir)
    assert (res.stored, res.last_seq) == (3, 56) and res.warnings == []
    assert notes(store) == []


def test_read_from_marks_an_unchanged_file_and_notices_each_change(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(steps(0, 30))
    first = read_from(path, FileMark())
    assert len(first.result.events) == 30 and first.restarted is None
    assert read_from(path, first.mark).result.events == []
    with open(path, "ab") as f:
        f.write(b'{"seq": 30, "t": 1, "ty')  # torn: not read, and no change to what was read
    again = read_from(path, first.mark)
    assert again.restarted is None and again.result.events == [] and again.mark == first.mark
    path.write_bytes(steps(0, 10))
    assert read_from(path, first.mark).restarted.startswith("shrank to ")
    path.write_bytes(steps(0, 10) + steps(50, 30))
    changed = read_from(path, first.mark)
    assert changed.restarted.startswith("changed before the ") and changed.same_file
    path.write_bytes(steps(1000, 40))
    replaced = read_from(path, first.mark)
    assert replaced.restarted.startswith("was replaced") and not replaced.same_file
    path.unlink()
    assert read_from(path, first.mark).missing


def test_a_followers_feed_says_the_file_was_read_again_and_shows_each_event_once(run_dir):
    feed = EventFeed(run_dir)
    assert len(feed.read_new().events) == 54
    path = events_file(run_dir)
    path.write_bytes(b"".join(lines_of(path)[:10]) + steps(54, 3, first_step=27))
    got = feed.read_new()
    assert [e.seq for e in got.events] == [54, 55, 56]
    (warning,) = got.warnings
    assert warning.startswith(f"{path} shrank to ") and warning.endswith("read again from its start")
    assert feed.read_new().warnings == []


def test_show_prints_the_note_and_sync_says_it(store, run_dir):
    from tests.conftest import workbench

    ingest(store, run_dir)
    path = events_file(run_dir)
    path.write_bytes(b"".join(lines_of(path)[:10]) + steps(54, 2, first_step=27))
    res = workbench("sync", store=store, timeout=120)
    assert res.returncode == 0, res.stderr
    (warning,) = [x for x in res.stdout.splitlines() if x.startswith("warning:")]
    assert warning.startswith(f"warning: {run_dir}/events.jsonl shrank to "), res.stdout
    assert "2 new events" in res.stdout
    shown = workbench("show", RUN, store=store, timeout=120)
    assert shown.returncode == 0, shown.stderr
    record = [x for x in shown.stdout.splitlines() if x.startswith("record")]
    assert len(record) == 1 and "events.jsonl shrank to " in record[0], shown.stdout


def test_a_deleted_event_file_is_said_once_by_a_feed_and_noted_once_by_ingestion(store, run_dir):
    feed = EventFeed(run_dir)
    feed.read_new()
    ingest(store, run_dir)
    events_file(run_dir).unlink()
    (warning,) = feed.read_new().warnings
    assert warning.startswith(f"{events_file(run_dir)} is gone (deleted while the run goes on?)")
    assert feed.read_new().warnings == [] and feed.gone() == []
    res = ingest(store, run_dir)
    assert res.events_gone and res.notes == [f"events.jsonl is gone from the run folder (deleted?) after "
                                             f"{res.notes[0].split(' after ')[1]}"]
    assert "(events up to seq 53): the store keeps those" in res.notes[0]
    again = ingest(store, run_dir)
    assert again.events_gone and again.notes == [] and notes(store) == res.notes
    # a follower that starts now never read the file: the store's ingestion tells it (follow() asks)
    late = EventFeed(run_dir)
    assert late.read_new().warnings == [] and late.gone()[0].startswith(f"{events_file(run_dir)} is gone")


@pytest.mark.parametrize("exit_rec, status, how", [
    ({"returncode": 0}, "completed", "the trainer exited with code 0 (completed)"),
    ({"returncode": 1}, "failed", "the trainer exited with code 1 (failed)"),
    ({"returncode": 130}, "interrupted", "the trainer exited with code 130 (interrupted)"),
    ({"returncode": 3}, "pruned", "the trainer exited with code 3 (pruned)"),  # rundir.EXIT_PRUNED: a tune trial
    ({"returncode": 4}, "failed", "the trainer exited with code 4 without an end event; see train.log"),
    ({"returncode": -9, "signal": "SIGKILL"}, "failed", "the trainer was killed by SIGKILL"),
])
def test_a_run_whose_event_file_was_deleted_ends_by_its_exit_code_saying_what_is_left(run_dir, exit_rec, status, how):
    from workbench import rundir
    from workbench.launch.follow import gone_status

    (run_dir / "adapter").mkdir()
    (run_dir / "labels.json").write_text("{}")
    (run_dir / "predictions_tuned_validation.jsonl").write_text("")
    (run_dir / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    held = rundir.saved_outputs(run_dir)
    assert held == ["adapter/", "labels.json", "predictions_tuned_validation.jsonl", "1 checkpoint"]
    final, error = gone_status("running", {"state": "done", "exit": {**exit_rec, "t": time.time()}}, False, held)
    assert final == status
    assert error.startswith("events.jsonl was deleted while the run went on: what the trainer wrote after the events "
                            f"already read never reached the store; {how}")
    assert error.endswith("; the run folder holds adapter/, labels.json, predictions_tuned_validation.jsonl, "
                          "1 checkpoint")
    # its end read before the file went: the record is whole, nothing to add
    assert gone_status("completed", {"state": "done", "exit": exit_rec}, False, held) == ("completed", None)


def test_a_store_of_schema_8_gains_the_fingerprints_and_reads_on(store, run_dir):
    """A store an older workbench filled (no events_head / events_tail): upgraded on open, its runs read on
    from their offsets, the fingerprints taken at the next ingest, a truncation noticed after that."""
    import duckdb

    ingest(store, run_dir)
    with duckdb.connect(str(store)) as con:  # back to what schema 8 held
        for table in ("runs", "event_files"):
            for column in ("events_head", "events_tail"):
                con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        con.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    with open(events_file(run_dir), "ab") as f:
        f.write(steps(54, 2, first_step=27))
    res = ingest(store, run_dir)
    assert (res.stored, res.last_seq) == (2, 55) and res.warnings == []
    with connect(store) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert con.execute("SELECT events_head IS NOT NULL AND events_tail IS NOT NULL FROM runs").fetchone() == (True,)
    path = events_file(run_dir)
    path.write_bytes(b"".join(lines_of(path)[:10]) + steps(56, 1, first_step=29))
    res = ingest(store, run_dir)
    assert (res.stored, res.last_seq) == (1, 56) and res.notes[0].startswith("events.jsonl shrank to ")


def test_a_remote_file_replaced_restarts_its_copy_and_ingestion_reads_it_again(store, run_dir, tmp_path):
    """A remote run's files come over by byte offset (the agent's `tail`, here on a folder standing for
    the remote one; `mirror` appends to the local copy). The remote file cut short and written on: the
    copy starts over, and ingestion sees it is not the file it read and reads it again."""
    import shutil

    from workbench.launch import agent
    from workbench.launch.follow import local_offsets, mirror

    remote = tmp_path / "remote" / RUN
    shutil.copytree(run_dir, remote)
    local = tmp_path / "local" / RUN
    local.mkdir(parents=True)
    shutil.copy(run_dir / "run.json", local)
    shutil.copy(run_dir / "recipe.toml", local)

    def fetch():
        head, data = agent.tail(remote, local_offsets(local))
        return mirror(local, head, data)

    assert fetch() == []
    assert ingest(store, local).stored == 54
    path = events_file(remote)
    path.write_bytes(b"".join(lines_of(path)[:10]) + steps(54, 22, first_step=27))
    assert fetch() == ["events.jsonl"]  # the copy started over
    assert events_file(local).read_bytes() == path.read_bytes()
    res = ingest(store, local)
    assert (res.stored, res.last_seq) == (22, 75)
    assert res.notes[0].startswith("events.jsonl shrank to ")
    assert set(file_steps(local)) <= set(stored_steps(store))


def test_a_followers_feed_tells_a_file_replaced_from_one_cut_short(run_dir):
    """A live follower knows the file it read: one renamed over it (a restore, an rsync) is said to be
    replaced, even when it holds the first lines of the one read; a copy of the same bytes is read on."""
    import os

    feed = EventFeed(run_dir)
    feed.read_new()
    path = events_file(run_dir)
    lines = lines_of(path)
    copy = run_dir / "events.copy"
    copy.write_bytes(b"".join(lines))
    os.replace(copy, path)
    assert feed.read_new().warnings == []  # the same bytes in another file: nothing to say
    copy.write_bytes(b"".join(lines[:len(lines) // 3]))
    os.replace(copy, path)
    (warning,) = feed.read_new().warnings
    assert warning.startswith(f"{path} was replaced by a shorter file ("), warning


def test_a_file_replaced_by_another_stream_between_batches_is_read_alone(store, run_dir, monkeypatch):
    """A file of many batches replaced by another stream while ingestion reads it (a restore or an rsync
    during `sync`): the batch after the change starts the run over as a first batch would, the note
    recorded and the run read again from the file alone; no step of the other stream is stored over
    the first one's under the same seqs."""
    from workbench.store import ingest as ingestion

    path = events_file(run_dir)
    start, model = lines_of(path)[:2]
    path.write_bytes(start + model + steps(2, 3000))  # 270 KB
    start_obj = json.loads(start)
    start_obj["t"] += 3600  # the training started over: another start, another time
    other = (json.dumps(start_obj).encode() + b"\n" + model
             + b"".join(line(2 + i, step=5000 + i, loss=0.5, t=T0 + 5000 + i) for i in range(3000)))
    monkeypatch.setattr(ingestion, "BATCH_BYTES", 1 << 16)  # the least a batch reads: several batches
    real_read, reads = ingestion._read, []

    def replaced_before_the_second_batch(run_dir_, path_, mark):
        reads.append(path_.name)
        if reads.count(rundir.EVENTS) == 2:
            copy = path_.with_name("events.rsync-tmp")
            copy.write_bytes(other)
            os.replace(copy, path_)  # what rsync and a restore do: a new file renamed over the name
        return real_read(run_dir_, path_, mark)

    monkeypatch.setattr(ingestion, "_read", replaced_before_the_second_batch)
    res = ingest(store, run_dir)
    assert reads.count(rundir.EVENTS) >= 3  # read in batches (about 128 KiB each)
    assert stored_steps(store) == file_steps(run_dir)  # steps 5000..7999 only, one per seq
    (note,) = res.notes
    assert note.startswith("events.jsonl was replaced (its first bytes are not those read before), and holds "
                           "other events than those stored from it"), note
    assert notes(store) == [note] and res.warnings == [f"{run_dir}/{note}"]
    with connect(store) as con:
        assert con.execute("SELECT last_seq FROM runs").fetchone() == (3001,)


def _rank_telemetry(seqs, util: float, t0: float = T0) -> bytes:
    return b"".join(json.dumps({"seq": i, "t": t0 + i, "type": "telemetry", "host": "h", "rank": 1, "gpu": 1,
                                "util": util}).encode() + b"\n" for i in seqs)


def _rank_log(seq: int, message: str) -> bytes:
    return line(seq, "log", level="error", message=message)


def test_a_rank_file_replaced_by_another_stream_replaces_only_that_ranks_rows(store, run_dir):
    """events.jsonl gone (deleted) and rank 1's file replaced by another stream: the run keeps what was
    read of events.jsonl (status, steps, last seq); rank 1's telemetry and its logs are those of the
    file as it is now."""
    rank = run_dir / "events.rank1.jsonl"
    rank.write_bytes(_rank_telemetry(range(5), 50.0) + _rank_log(5, "old stream"))
    ingest(store, run_dir)
    with connect(store) as con:
        before = con.execute("SELECT status, last_seq, started_at FROM runs").fetchone()
    events_file(run_dir).unlink()
    rank.write_bytes(_rank_telemetry(range(3), 70.0, t0=T0 + 9000) + _rank_log(3, "new stream"))
    res = ingest(store, run_dir)
    with connect(store) as con:
        assert con.execute("SELECT status, last_seq, started_at FROM runs").fetchone() == before
        assert before[:2] == ("running", 53)
        assert con.execute("SELECT seq, util FROM telemetry WHERE rank = 1 ORDER BY seq").fetchall() == [
            (0, 70.0), (1, 70.0), (2, 70.0)]
        assert con.execute("SELECT count(*) FROM telemetry WHERE rank = 0").fetchone() == (26,)
        assert con.execute("SELECT message FROM logs WHERE seq IS NOT NULL").fetchall() == [("[rank 1] new stream",)]
        assert con.execute("SELECT last_seq FROM event_files").fetchall() == [(3,)]
    assert stored_steps(store) == [(2 + 2 * i, 1 + i) for i in range(26)]
    assert res.events_gone
    replaced, gone = res.notes
    assert replaced.startswith("events.rank1.jsonl was replaced (its first bytes are not those read before), and "
                               "holds other events than those stored from it: rank 1's rows"), replaced
    assert gone.startswith("events.jsonl is gone from the run folder")


def test_a_backup_copy_beside_a_rank_file_is_no_event_file(store, run_dir):
    """`events.rank1.bak.jsonl` (a user's copy) matches `events.rank*.jsonl` but is no rank's file: it is
    not read, and ingestion goes on."""
    from workbench import rundir as rd

    rank = run_dir / "events.rank1.jsonl"
    rank.write_bytes(_rank_telemetry(range(4), 50.0))
    (run_dir / "events.rank1.bak.jsonl").write_bytes(rank.read_bytes())
    (run_dir / "events.rankX.jsonl").write_bytes(rank.read_bytes())
    assert [p.name for p in rd.event_files(run_dir)] == ["events.jsonl", "events.rank1.jsonl"]
    ingest(store, run_dir)
    with connect(store) as con:
        assert con.execute("SELECT count(*) FROM telemetry WHERE rank = 1").fetchone() == (4,)
        assert con.execute("SELECT file FROM event_files").fetchall() == [("events.rank1.jsonl",)]
