"""Following a run: bring its event files here (from a remote host: by byte offset, so a
dropped connection resumes without gaps or duplicates), ingest them into the store, and when
the job has ended settle the final status, also for jobs that never wrote an `end` event.

The CLI (`run`, `attach`) and the app's monitor follow through the same `follow`. What a
follower shows comes from its own `EventFeed` over the run folder's event files, never from
what its own ingestion stored: another process may have ingested the events first
(docs/architecture.md, "Data flow")."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.errors import UserError, environment_fault
from workbench.events import FINAL_STATUSES, Event, FileMark, file_mark, last_event, log_event, read_from
from workbench.launch import batch
from workbench.launch.hosts import HostUnreachable, host_of_run
from workbench.rundir import read_run_meta
from workbench.store.db import connect
from workbench.store.ingest import IngestResult, ingest_run
from workbench.store.write import set_final_status

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")


# (store, run folder) -> (sizes of its event files, monotonic time) at the last ingest, in this process.
_LAST_INGEST: dict[tuple[str, str], tuple[tuple | None, float]] = {}
INGEST_EVERY_S = 1.0  # while a run trains: the telemetry rate; its end is ingested at once


def _event_file_sizes(run_dir: Path) -> tuple:
    out = []
    for f in rundir.event_files(run_dir):
        try:
            out.append((f.name, f.stat().st_size))
        except FileNotFoundError:
            continue
    return tuple(out)


def ingest_once(store: Path, run_dir: Path) -> IngestResult:
    with connect(store) as con:
        return ingest_run(con, run_dir)


def mirror(run_dir: Path, head: dict[str, Any], data: bytes) -> list[str]:
    """Append the bytes of a tail reply to the local copies of the remote files. Returns the
    names of copies started over (the remote file was replaced): ingestion and every EventFeed see
    they are not the files they read, and read them again from their start."""
    replaced: list[str] = []
    pos = 0
    for f in head["files"]:
        chunk = data[pos:pos + f["length"]]
        pos += f["length"]
        path = run_dir / f["name"]
        have = path.stat().st_size if path.exists() else 0
        if f["offset"] != have:
            if f["offset"] != 0:
                continue  # not where our copy ends (a reply to an older request): ask again
            path.unlink(missing_ok=True)  # the remote file was replaced: start the copy over
            replaced.append(f["name"])
        with open(path, "ab") as out:
            out.write(chunk)
    return replaced


def local_offsets(run_dir: Path) -> dict[str, int]:
    return local_copies(run_dir)[0]


def local_copies(run_dir: Path) -> tuple[dict[str, int], dict[str, dict[str, str | None]]]:
    """What a tail request says of the local copies of a remote run's files: each one's byte offset
    (its size), and fingerprints of its first bytes and of those before its end (`events.file_mark`).
    The agent starts a file over whose bytes at those places are not the copy's (the remote file was
    truncated and written past the copy's end, or replaced): its size alone cannot tell."""
    offsets: dict[str, int] = {}
    marks: dict[str, dict[str, str | None]] = {}
    for name in rundir.followed_names(run_dir):
        try:
            f = open(run_dir / name, "rb", buffering=0)
        except FileNotFoundError:
            continue
        with f:
            mark = file_mark(f.fileno(), os.fstat(f.fileno()).st_size)
        offsets[name] = mark.offset
        marks[name] = {"head": mark.head, "tail": mark.tail}
    return offsets, marks


@dataclass
class Feed:
    """Events a follower has not shown yet, in file order, and warnings about unreadable lines."""
    events: list[Event]
    warnings: list[str]
    more: bool = False  # stopped at FEED_BYTES: read again for the rest


OnEvents = Callable[[Feed], None]
# Event lines one read_new returns at most (about): a follower catching up on a large file (attach,
# the app opening a finished run) shows it batch by batch instead of holding all of it at once.
FEED_BYTES = 16 << 20


class EventFeed:
    """Every event of a run folder's event files, read by this follower's own marks: each follower
    sees every event once and in order, whoever ingested it into the store. It says when a file is
    read again from its start (truncated, replaced: a remote file's copy started over) and when
    events.jsonl disappears after it was read (the run goes on being followed)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._at: dict[str, tuple[FileMark, int]] = {}  # file name -> (mark, last seq shown)
        self._gone_said = False
        self._unreadable: set[str] = set()  # files said to be unreadable (once each)

    def read_new(self) -> Feed:
        """The next events, about FEED_BYTES of lines at most (`more`: there are others; `batches`)."""
        events: list[Event] = []
        warnings: list[str] = []
        more = False
        for path in rundir.event_files(self.run_dir):
            mark, last = self._at.get(path.name, (FileMark(), -1))
            try:
                got = read_from(path, mark, max_bytes=FEED_BYTES)
            except OSError as e:
                if path.name not in self._unreadable:
                    self._unreadable.add(path.name)
                    warnings.append(f"{path}: cannot be read ({e.strerror or e})")
                continue
            self._unreadable.discard(path.name)
            if got.missing:
                if path.name == rundir.EVENTS and mark.offset:
                    warnings += self.gone()
                continue
            if got.restarted:
                warnings.append(f"{path} {got.restarted}; read again from its start")
            new = [e for e in got.result.events if e.seq > last]  # a file read again shows nothing twice
            self._at[path.name] = (got.mark, new[-1].seq if new else last)
            events += new
            warnings += got.result.warnings
            more = more or got.result.more
        return Feed(events, warnings, more)

    def batches(self) -> Iterator[Feed]:
        """Every new event, one bounded batch after another (none when there is nothing new)."""
        while True:
            feed = self.read_new()
            if feed.events or feed.warnings:
                yield feed
            if not feed.more:
                return

    def gone(self) -> list[str]:
        """The warning that events.jsonl is gone after it was read (by this feed, or by the store's
        ingestion: a follower started since), once per feed."""
        if self._gone_said:
            return []
        self._gone_said = True
        return [f"{rundir.events_file(self.run_dir)} is gone (deleted while the run goes on?): what the trainer "
                "writes from now on cannot be read; following the run until it ends"]


@dataclass
class Poll:
    result: IngestResult
    job: dict[str, Any]
    final: str | None  # the settled final status, once the job has ended and everything is in


def poll(store: Path, run_dir: Path, host=None, job_dir: str | None = None) -> Poll:
    """One round: fetch (remote), ingest, and settle if the job is over. Raises HostUnreachable.

    Followers of one run (`run`, `attach`, `stop`, `sync`) may poll at once: a lock on the run
    folder makes each round whole, so no byte is mirrored twice and no event ingested twice."""
    if host is None:
        host, job_dir = host_of_run(run_dir)
    with follow_lock(run_dir, mirrors=host.remote):
        # (a local run's files are its own: nothing to copy, nothing to fingerprint)
        head, data = host.tail(job_dir, *(local_copies(run_dir) if host.remote else ({}, {})))
        # a copy started over (the remote file was replaced) is read again from its start by the
        # ingestion below, which sees it is not the file it read (store/ingest.py)
        replaced = mirror(run_dir, head, data) if (data or head["files"]) else []
        job = head["state"]
        sizes = _event_file_sizes(run_dir)
        key = (str(store), str(run_dir))
        now = time.monotonic()
        seen, at = _LAST_INGEST.get(key, (None, 0.0))
        if job["state"] not in (batch.DONE, batch.GONE) and not replaced and (
                seen == sizes or now - at < INGEST_EVERY_S):
            # Nothing new, or ingested under a second ago: opening the store (a schema check and
            # a write lock) at every poll cost a 2-core machine's trainer ~5 % of a core.
            return Poll(IngestResult(run_dir.name), job, None)
        res = ingest_once(store, run_dir)
        _LAST_INGEST[key] = (sizes, now)
        if job["state"] in (batch.DONE, batch.GONE) and head["complete"] and not end_may_be_in_flight(
                job, res.status, run_dir):
            return Poll(res, job, settle(store, run_dir, job, res.status))
    return Poll(res, job, None)


_IN_PROCESS: dict[str, threading.Lock] = {}  # run folder -> the lock this process's threads take turns at


@contextmanager
def follow_lock(run_dir: Path, *, mirrors: bool) -> Iterator[None]:
    """Hold the run folder's follow lock: one process (and, in the app, one thread) at a time copies
    and ingests the run. The lock file is opened for reading, which a read-only folder still allows
    once the file exists. Where it cannot be made at all (a read-only or full folder), a local run is
    followed unlocked: nothing can be copied into that folder, and processes already take turns at the
    store's own lock; a remote run, whose files must be copied in, fails with the folder's error."""
    import fcntl

    with _IN_PROCESS.setdefault(str(run_dir), threading.Lock()):
        try:
            fd = os.open(run_dir / rundir.FOLLOW_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as e:
            if mirrors or environment_fault(e) is None:
                raise
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def end_may_be_in_flight(job: dict[str, Any], status: str | None, run_dir: Path | None = None) -> bool:
    """A clean exit with no `end` event read yet: on a shared filesystem (NFS) the last lines can
    show up after exit.json does. Give them half a minute before calling the run failed (none when
    events.jsonl is gone: nothing can arrive in it)."""
    exit_rec = job.get("exit") or {}
    if run_dir is not None and events_gone(run_dir, status):
        return False
    return status not in FINAL_STATUSES and exit_rec.get("returncode") == 0 and time.time() - exit_rec.get("t", 0) < 30


def events_gone(run_dir: Path, status: str | None) -> bool:
    """events.jsonl is not there, though the store read from it (its `start` made the run running)."""
    return status not in (None, "queued") and not rundir.events_file(run_dir).exists()


def settle(store: Path, run_dir: Path, job: dict[str, Any], status: str | None) -> str:
    """The job is over and all it wrote is stored: decide the final status (`settled_status`), and
    remove what its writers left half-written (rundir.remove_leftovers)."""
    meta = read_run_meta(run_dir)
    final, error = settled_status(status, job, bool(meta.get("stop_requested_at")), run_dir)
    if final != status or error:
        with connect(store) as con:
            set_final_status(con, meta["run_id"], final, error, ended_at(run_dir, job))
    rundir.remove_leftovers(run_dir)
    return final


def ended_at(run_dir: Path, job: dict[str, Any]) -> float:
    """When an ended job ended, as well as its folder tells: the supervisor's exit record, else its
    last event (a run settled days later must not read as ended then)."""
    exit_t = (job.get("exit") or {}).get("t")
    if isinstance(exit_t, (int, float)):
        return float(exit_t)
    last = last_event(rundir.events_file(run_dir))
    return float(last.t) if last is not None and isinstance(last.t, (int, float)) else time.time()


def final_status(status: str | None, job: dict[str, Any], stop_requested: bool, *,
                 exit_verdict: bool = False) -> tuple[str, str | None]:
    """Reconcile what the trainer recorded with what the process / scheduler says.

    - a user's `workbench stop`, or the scheduler cancelling the job: cancelled
    - the scheduler's time limit: interrupted (the trainer saw SIGTERM and stopped cleanly)
    - an `end` event otherwise stands as written
    - no `end` event: from the supervisor's exit record or the scheduler's final state (with
      `exit_verdict`, an exit code of the trainer's own says how it ended: see `gone_status`)
    """
    raw = job.get("scheduler_state") or ""
    exit_rec = job.get("exit") or {}
    unfinished = status in (None, "queued", "running", "interrupted")
    job_id = (job.get("job") or {}).get("job_id")
    if unfinished and (raw.startswith("CANCELLED") or stop_requested):
        by = "workbench stop" if stop_requested else f"the scheduler (job {job_id} {raw})"
        return "cancelled", f"cancelled by {by}"
    if unfinished and raw in ("TIMEOUT", "DEADLINE"):
        return "interrupted", f"the job reached its time limit ({raw}, job {job_id})"
    if status in FINAL_STATUSES:  # an `end` stands as written; cancelled: already settled (or by ingestion, see store/ingest.py)
        return status, None
    sig, code = exit_rec.get("signal"), exit_rec.get("returncode")
    if sig in STOP_SIGNALS:
        return "interrupted", f"stopped by {sig} before it could record its end"
    if sig:
        hint = " (out of memory, or killed by hand)" if sig == "SIGKILL" else ""
        return "failed", f"the trainer was killed by {sig}{hint}; see train.log"
    if code is not None:
        if exit_verdict and code in rundir.EXIT_STATUS:
            return rundir.EXIT_STATUS[code], f"the trainer exited with code {code} ({rundir.EXIT_STATUS[code]})"
        return "failed", f"the trainer exited with code {code} without an end event; see train.log"
    if raw:
        detail = f" with exit code {job['scheduler_exit']}" if job.get("scheduler_exit") is not None else ""
        return "failed", f"job {job_id} ended {raw}{detail} without an end event; see train.log"
    return "failed", ("the job is gone without an end event or exit record (its processes were killed, the machine "
                      "restarted, or its run folder could not be written); see train.log")


def settled_status(status: str | None, job: dict[str, Any], stop_requested: bool, run_dir: Path) -> tuple[str, str | None]:
    """An ended job's final status and error: `final_status`, or `gone_status` when its events.jsonl
    was deleted after the store read from it. Followers, `sync` and reads (launch/reckon.py) alike."""
    if events_gone(run_dir, status):
        return gone_status(status, job, stop_requested, rundir.saved_outputs(run_dir))
    return final_status(status, job, stop_requested)


def gone_status(status: str | None, job: dict[str, Any], stop_requested: bool, held: list[str]) -> tuple[str, str | None]:
    """The final status of a run whose events.jsonl was deleted while it went on (`held`: what its
    folder holds, rundir.saved_outputs). Its `end` went into the deleted file, so the trainer's exit
    code (its own verdict) says how it ended, and the error says what happened and what is left."""
    final, error = final_status(status, job, stop_requested, exit_verdict=True)
    if error is None:
        return final, None  # its end was read before the file went: the record is whole
    holds = ", ".join(held) if held else "no saved model, labels or predictions"
    return final, (f"{rundir.EVENTS} was deleted while the run went on: what the trainer wrote after the events "
                   f"already read never reached the store; {error}; the run folder holds {holds}")


def follow(store: Path, run_dir: Path, *, on_events: OnEvents | None = None, poll_s: float | None = None,
           ctrl_c: str = "stop", on_disconnect: Callable[[str], object] | None = None, stop_grace: float = 60.0,
           cancelled: Callable[[], bool] | None = None) -> str:
    """Ingest until the run ends, handing `on_events` every event read from the run folder
    (`EventFeed`); returns its final status.

    Ctrl-C: with ctrl_c="stop" (local `workbench run`) the trainer is sent SIGINT and followed
    until it records `interrupted` (after `stop_grace` seconds it is killed, and ends as the
    kill leaves it); with ctrl_c="detach" following stops and the run goes on (returns
    "detached"). `cancelled` (the app's worker) also detaches. A dropped ssh connection is
    retried with backoff, resuming at the byte offsets already copied. Remote runs are polled
    every 2 s (each poll is an ssh round trip), local ones every 0.5 s.
    """
    host, job_dir = host_of_run(run_dir)
    if poll_s is None:
        poll_s = 2.0 if host.remote else 0.5
    feed = EventFeed(run_dir)
    stop = threading.Event()
    # Ctrl-C only sets a flag: raised as an exception it could land inside a DuckDB
    # transaction (which reports it as "Query interrupted") and lose the run's last events.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if in_main else None
    stopping_since: float | None = None
    backoff = poll_s

    def wait(seconds: float) -> None:
        if cancelled is None:
            stop.wait(seconds)
            return
        # In short naps: a cancelled follower (the app quitting) must not hold the exit up.
        deadline = time.monotonic() + seconds
        while not stop.is_set() and not cancelled() and time.monotonic() < deadline:
            stop.wait(0.05)

    try:
        while True:
            if cancelled is not None and cancelled():
                return "detached"
            if stop.is_set() and ctrl_c == "detach":
                return "detached"
            if stop.is_set() and stopping_since is None:
                stopping_since = time.monotonic()
                host.cancel(job_dir, "SIGINT")
                if on_events is not None:
                    on_events(Feed([log_event("stopping the run (Ctrl-C)…", "warning")], []))
            try:
                p = poll(store, run_dir, host, job_dir)
            except HostUnreachable as e:
                if on_disconnect is not None:
                    on_disconnect(f"{e}; retrying in {backoff:.0f} s")
                wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except (UserError, OSError) as e:
                # A store or run folder that cannot be written (a full disk), a host refusing: the run
                # itself is not touched. Say so on the same line (errors.py: the environment's, exit 2).
                cause = str(e) if isinstance(e, UserError) else environment_fault(e)
                if cause is None:
                    raise
                raise UserError(f"{cause} (stopped following {run_dir.name}; `workbench sync` records it once "
                                "that is fixed)") from None
            backoff = poll_s
            if p.result.events_gone:  # said once, whichever of this feed and the store's ingestion saw it first
                gone = feed.gone()
                if gone and on_events is not None:
                    on_events(Feed([], gone))
            for new in feed.batches():  # all of it before a final status returns
                if on_events is not None:
                    on_events(new)
            if p.final is not None:
                return p.final
            if stopping_since is not None and time.monotonic() - stopping_since > stop_grace:
                host.cancel(job_dir, "SIGKILL")  # it ignored SIGINT for too long
            wait(poll_s)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
