"""The status of runs the store still calls queued or running, reckoned from what their folders and
jobs say now, without anyone following them (docs/architecture.md, "Run status").

A run started with --detach, or whose follower was killed, stays queued / running in the store until
a follower or `workbench sync` ingests it. Reads (`runs`, `show`, the app) show instead what its
folder and job say: the supervisor's exit.json, whether its process is alive (without it, the
trainer's), an `end` event not ingested yet, and for batch jobs the scheduler's word. The final
status comes from the follower's own `final_status`, so a read and a later `sync` agree.

- `reckon` only computes: it serves a store opened read-only (`runs`, `show`).
- `record` is for writers (the app, `tag` / `note` / `archive` / `rm`): a local run whose job is over
  is ingested and its final status recorded, through the follower's own lock and `settle`.
- A run whose job is alive is never settled; pids are reused, so a pid counts only while its
  command line names the run folder (agent.pid_alive).
- Each scheduler is asked once per call for every such run's job (batch.job_states); each remote
  host once (one ssh round trip: `agent states`), all within TIMEOUT_S. A host that does not answer
  in time leaves its runs at their last recorded status, and the reader says so.
- Remote runs are recorded only by a follower or `sync`, which copy their files first: a final
  status recorded before their last events are copied would keep `sync` from copying them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import faults, rundir
from workbench.errors import UserError
from workbench.events import UNFINISHED_STATUSES
from workbench.store import read
from workbench.store.db import connect, runs_root
from workbench.store.rows import utc
from workbench.wording import runs_count

TIMEOUT_S = 8.0  # the most a read waits for schedulers and remote hosts, all of them together


@dataclass(frozen=True)
class Reckoned:
    """What a reader shows of one unfinished run."""
    status: str
    error: str | None = None
    ended_at: float | None = None      # unix seconds, once settled
    settled: bool = False              # the job is over: `status` is final, though the store does not say so yet
    note: str | None = None            # why `status` is only the last recorded one
    run_dir: Path | None = None
    job: dict[str, Any] | None = None  # the job's state it was settled from (`record` settles by it)
    local: bool = True


@dataclass
class Reckoning:
    runs: dict[str, Reckoned] = field(default_factory=dict)  # run id -> its status now (unfinished runs only)
    notes: list[str] = field(default_factory=list)           # one line per host or scheduler that did not answer

    def apply(self, row: dict[str, Any]) -> Reckoned | None:
        """Put a run's reckoned status into a row of `read.list_runs` / `read.run_detail` (in place)."""
        now = self.runs.get(row["run_id"])
        if now is None:
            return None
        row["status"] = now.status
        if now.settled:
            if "error" in row and now.error:
                row["error"] = now.error
            if row.get("ended_at") is None and now.ended_at is not None:
                row["ended_at"] = utc(now.ended_at)
                if row.get("started_at") is not None and row.get("duration_s") is None:
                    row["duration_s"] = max(0.0, (row["ended_at"] - row["started_at"]).total_seconds())
        return now


def reckon(live: list[tuple[str, str, str | None]], store: Path, *, remote: bool = True,
           timeout: float = TIMEOUT_S) -> Reckoning:
    """The status now of runs the store calls queued or running: `live` holds their (run id, status in
    the store, recorded run folder), as `read.runs_in_progress` gives them. A run without a folder here
    keeps its recorded status; remote runs are asked about only with `remote`."""
    # Imported here, not above: `workbench runs` with no unfinished run pays none of it (~60 ms).
    from workbench.launch.hosts import LocalHost, host_of_run
    from workbench.launch.targets import parse_target

    out = Reckoning()
    here: list[tuple[str, str, Path, dict]] = []
    away: dict[str, tuple[Any, list[tuple[str, str, Path, dict, str]]]] = {}
    for run_id, status, recorded in live:
        folder = _folder(store, run_id, recorded)
        try:
            meta = rundir.read_json(folder / rundir.RUN_META) if folder is not None else None
        except OSError as e:  # a folder or a link loop in its place, a permission taken away
            out.notes.append(f"{run_id}: status as last recorded ({e.filename}: cannot be read ({e.strerror or e}))")
            continue
        if folder is None or meta is None:
            continue  # nothing to reckon from: the store's word stands
        try:
            target = parse_target(str(meta.get("target") or "local"))
        except UserError:
            continue
        if target.host is None:
            here.append((run_id, status, folder, meta))
            continue
        if not remote:
            continue
        try:
            host, job_dir = host_of_run(folder)
        except (UserError, OSError, ValueError) as e:
            out.notes.append(f"{run_id}: status as last recorded ({e})")
            continue
        away.setdefault(host.name, (host, []))[1].append((run_id, status, folder, meta, job_dir))
    deadline = time.monotonic() + timeout
    answers: dict[str, list[dict[str, Any]] | str] = {}
    judged: dict[str, Reckoned] = {}  # the runs whose job's state came back
    threads = [threading.Thread(target=_ask, args=(host, [r[4] for r in runs], timeout, answers), daemon=True)
               for host, runs in away.values()]
    for t in threads:
        t.start()
    if here:
        states = LocalHost().states([str(r[2]) for r in here], timeout)
        for (run_id, status, folder, meta), state in zip(here, states):
            out.runs[run_id] = judged[run_id] = _judge(status, state, folder, meta, local=True)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for name, (_host, runs) in away.items():
        got = answers.get(name)
        if isinstance(got, BaseException):
            raise got  # a bug in that thread: raised here, where it is reported as one
        if not isinstance(got, list):
            why = got or f"{name}: no answer within {timeout:.0f} s"
            out.notes.append(f"{runs_count(len(runs))} on {name}: status as last recorded ({why})")
            for run_id, status, folder, _meta, _ in runs:
                out.runs[run_id] = Reckoned(status, note=why, run_dir=folder, local=False)
            continue
        for (run_id, status, folder, meta, _), state in zip(runs, got):
            out.runs[run_id] = judged[run_id] = _judge(status, state, folder, meta, local=False)
    unknown = sorted({r.note for r in judged.values() if r.note})  # an unanswering host's runs are said above
    out.notes += [f"status as last recorded: {why}" for why in unknown]
    return out


def _folder(store: Path, run_id: str, recorded: str | None) -> Path | None:
    for candidate in (Path(recorded) if recorded else None, runs_root(store) / run_id):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def _ask(host, job_dirs: list[str], timeout: float, answers: dict) -> None:
    """One host's states, or why there are none (a thread per host: they are asked side by side)."""
    from workbench.launch.hosts import HostUnreachable

    try:
        answers[host.name] = host.states(job_dirs, timeout)
    except HostUnreachable as e:
        answers[host.name] = str(e)
    except UserError as e:  # it answered, but not with states (an older workbench there)
        answers[host.name] = str(e)
    except Exception as e:  # noqa: BLE001 - handed to the calling thread, which raises it
        answers[host.name] = e


def _judge(status: str, state: dict[str, Any], folder: Path, meta: dict[str, Any], *, local: bool) -> Reckoned:
    """One run's status from its job's state (agent.states): settled by `final_status` once the job is
    over; running once its job runs; else as recorded."""
    from workbench.launch import batch
    from workbench.launch.follow import end_may_be_in_flight, ended_at, settled_status

    end = state.get("end")
    said = end["status"] if end else status  # an `end` event the store has not ingested yet counts
    if state["state"] in (batch.DONE, batch.GONE) and not end_may_be_in_flight(state, said, folder):
        final, error = settled_status(said, state, bool(meta.get("stop_requested_at")), folder)
        if error is None and end and final == end["status"]:
            error = end.get("error")
        when = end["t"] if end and end.get("t") else ended_at(folder, state) if local else (
            (state.get("exit") or {}).get("t"))
        return Reckoned(final, error, when, settled=True, run_dir=folder, job=state, local=local)
    if state["state"] == batch.RUNNING and status == "queued":
        return Reckoned("running", run_dir=folder, local=local)
    note = state.get("note")  # a file of its folder that cannot be read (agent.unreadable)
    if state["state"] == batch.UNKNOWN and state.get("scheduler_state"):
        note = f"{(state.get('job') or {}).get('kind', 'the scheduler')}: {state['scheduler_state']}"
    return Reckoned(status, note=note, run_dir=folder, local=local)


# --- reads -------------------------------------------------------------------------------------

def list_runs(store: Path, *, status: str | None = None, limit: int = 0, timeout: float = TIMEOUT_S,
              **filters) -> tuple[list[dict[str, Any]], list[str]]:
    """`read.list_runs` with each unfinished run's status reckoned now (`--status` filters on that),
    and the notes of what could not be asked. Reads only: the store is opened read-only."""
    with connect(store, read_only=True) as con:
        live = read.runs_in_progress(con)
        if not live:
            return read.list_runs(con, status=status, limit=limit, **filters), []
        # A status filter must see the unfinished runs too: one may have ended with that status.
        asked = (status, *UNFINISHED_STATUSES) if status else None
        rows = read.list_runs(con, status=asked, limit=0 if status else limit, **filters)
    shown = {r["run_id"] for r in rows}
    now = reckon([r for r in live if r[0] in shown], store, timeout=timeout)  # only those listed: --limit holds
    for row in rows:
        now.apply(row)
    if status:
        rows = [r for r in rows if r["status"] == status][:limit or None]
    return rows, now.notes


def detail(store: Path, run: dict[str, Any], *, timeout: float = TIMEOUT_S) -> tuple[Reckoned | None, list[str]]:
    """A `read.run_detail` row with its status reckoned now (in place) when the store calls it unfinished."""
    if run.get("status") not in UNFINISHED_STATUSES:
        return None, []
    now = reckon([(run["run_id"], run["status"], run.get("run_dir"))], store, timeout=timeout)
    return now.apply(run), now.notes


# --- writers -------------------------------------------------------------------------------------

@dataclass
class Recorded:
    settled: list[str] = field(default_factory=list)   # the run ids settled
    warnings: list[str] = field(default_factory=list)  # one line per run folder that could not be recorded


def record(store: Path, live: list[tuple[str, str, str | None]] | None = None) -> Recorded:
    """For a writer: ingest every local run the store calls unfinished whose job is over, and record
    its final status (the follower's `settle`). `live`: the unfinished runs when the caller has just
    read them (`read.runs_in_progress`). Remote runs are left to their followers and `sync`, which
    copy their files first. A run whose folder cannot be recorded (rundir.folder_fault: an event file
    that cannot be read, a run.json that no longer loads) stays as recorded, said in one line of
    `warnings`; the others are recorded."""
    out = Recorded()
    if live is None:
        with connect(store) as con:
            live = read.runs_in_progress(con)
    if not live:
        return out
    from workbench.launch import agent, batch
    from workbench.launch.follow import follow_lock, ingest_once, settle

    now = reckon(live, store, remote=False)
    faults.at("record")  # the tests' pause: a `resume` may come between the reckoning and the lock
    for run_id, r in now.runs.items():
        if not (r.settled and r.local and r.run_dir is not None and r.job is not None):
            continue
        try:
            with follow_lock(r.run_dir, mirrors=False):
                # Again, under the lock, whatever its kind: a `resume` (which resets the run under this
                # lock) may have started or submitted it since it was reckoned. (One scheduler query per
                # run that ended: a run is settled once.)
                job = agent.state(r.run_dir)
                if job["state"] not in (batch.DONE, batch.GONE):
                    continue
                res = ingest_once(store, r.run_dir)
                settle(store, r.run_dir, job, res.status)
        except (UserError, OSError) as e:
            why = rundir.folder_fault(e, r.run_dir)
            if why is None:
                raise
            out.warnings.append(f"{why}; its status is left as recorded")
            continue
        out.settled.append(run_id)
    return out
