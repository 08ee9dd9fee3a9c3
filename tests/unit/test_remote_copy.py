"""A remote run's files come over by byte offset: the agent's `tail` (here on a folder standing for the
remote one, run in this process as the follower's ssh command runs it there), `mirror` appending to the
local copy, ingestion reading the copy. A remote file truncated and written on past the copy's end kept
a size above the offset, so the agent sent the new file's bytes from the old offset and the copy became
a hybrid that ingestion could not tell from an appended file (issue 25 review, t10.py: 61 of 80 events
lost). The follower now sends its copy's fingerprints with each offset (`follow.local_copies`), the agent
checks them against the remote file and sends a changed file from 0, and the copy starts over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.test_store import make_run, rid
from workbench.launch import agent
from workbench.launch.follow import local_copies, local_offsets, mirror
from workbench.rundir import events_file
from workbench.store.db import connect
from workbench.store.ingest import ingest_run

RUN = rid("remote")
T0 = 1_770_000_000.0


def steps(first_seq: int, n: int, first_step: int) -> bytes:
    return b"".join(json.dumps({"seq": first_seq + i, "t": T0 + first_seq + i, "type": "step", "step": first_step + i,
                                "loss": 1.0 / (first_step + i), "pad": "x" * 60}).encode() + b"\n" for i in range(n))


@pytest.fixture
def folders(tmp_path, demo_recipe) -> tuple[Path, Path]:
    """(the remote run folder: start, model and 40 steps, seq 0..41; the local folder, no events yet)."""
    remote = make_run(tmp_path / "remote", RUN, demo_recipe, end=None)
    path = events_file(remote)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]) + steps(2, 40, first_step=1))
    local = tmp_path / "runs" / RUN
    local.mkdir(parents=True)
    for name in ("run.json", "recipe.toml"):
        shutil.copy(remote / name, local / name)
    return remote, local


def sync_once(store: Path, remote: Path, local: Path) -> tuple[list[str], dict]:
    """One follower round as `follow.poll` makes it: tail with the copies' offsets and marks, mirror, ingest."""
    offsets, marks = local_copies(local)
    head, data = agent.tail(remote, offsets, marks=marks)
    replaced = mirror(local, head, data)
    with connect(store) as con:
        ingest_run(con, local)
    return replaced, head


def stored_seqs(store: Path) -> list[int]:
    with connect(store) as con:
        return [s for (s,) in con.execute("SELECT seq FROM steps ORDER BY seq").fetchall()]


def test_a_remote_file_truncated_and_written_past_the_copy_is_copied_again_and_every_event_stored(folders, tmp_path):
    remote, local = folders
    store = tmp_path / "runs.duckdb"
    assert sync_once(store, remote, local)[0] == []
    assert stored_seqs(store) == list(range(2, 42))
    path = events_file(remote)
    old_size = path.stat().st_size
    # on the remote host: the file truncated (a cleanup), the trainer writes on (its numbering too) past the old size
    path.write_bytes(steps(42, 80, first_step=41))
    assert path.stat().st_size > old_size

    replaced, head = sync_once(store, remote, local)
    assert replaced == ["events.jsonl"]  # the copy started over
    (sent,) = [f for f in head["files"] if f["name"] == "events.jsonl"]
    assert sent["offset"] == 0 and "not those read" in sent["restarted"]
    assert events_file(local).read_bytes() == path.read_bytes()
    assert stored_seqs(store) == list(range(2, 122))  # every event of both files, once

    # appended from then on: copied by offset again, nothing started over
    with open(path, "ab") as f:
        f.write(steps(122, 3, first_step=121))
    replaced, head = sync_once(store, remote, local)
    assert replaced == [] and "restarted" not in head["files"][0]
    assert events_file(local).read_bytes() == path.read_bytes()
    assert stored_seqs(store)[-3:] == [122, 123, 124]


def test_a_remote_file_rewritten_to_the_copys_size_is_copied_again(folders, tmp_path):
    """Another file of exactly the copy's size: no offset or size can tell it; the fingerprints do."""
    remote, local = folders
    store = tmp_path / "runs.duckdb"
    sync_once(store, remote, local)
    path = events_file(remote)
    body = path.read_bytes()
    lines = body.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b'"pad": "x', b'"pad": "y', 1))  # rewritten in place
    assert path.stat().st_size == len(body)
    assert sync_once(store, remote, local)[0] == ["events.jsonl"]
    assert events_file(local).read_bytes() == path.read_bytes()


def test_an_older_followers_request_of_offsets_alone_is_answered_as_before(folders):
    """The wire stays compatible: a request without marks gets the size check alone (a shorter file is sent
    from 0, a longer one from the offset), and its reply has the fields an older `mirror` reads."""
    remote, local = folders
    head, data = agent.tail(remote, local_offsets(local))
    mirror(local, head, data)
    assert events_file(local).read_bytes() == events_file(remote).read_bytes()
    events_file(remote).write_bytes(steps(42, 2, first_step=41))  # shorter than the copy
    head, _ = agent.tail(remote, local_offsets(local))
    assert head["files"][0]["offset"] == 0 and "shrank" in head["files"][0]["restarted"]
    assert set(head["files"][0]) <= {"name", "offset", "length", "size", "restarted"}
