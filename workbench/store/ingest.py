"""Ingesting run folders into the store.

A run folder (workbench/rundir.py) holds `run.json` (written by the launcher), `recipe.toml`
(the frozen recipe) and `events.jsonl` (written by the trainer). Ingestion is idempotent: it keys on
(run_id, seq) and remembers how far into each event file it has read (a `FileMark`: offset and
fingerprints), so followers can call it as often as they like, and `workbench sync` can rebuild the
whole store from the folders.

An event file that is not the one read before (truncated, rewritten past the offset, replaced) is
read again from its start: events of seq already stored are skipped, so each event of the file is
stored once, and the events read before that the file no longer holds stay (they happened). A file
that holds other events under seqs already stored (another stream: a training started over) is the
run's truth now: the run is read again from its files alone, as `sync` into a new store would (a rank
file's other stream replaces that rank's rows only; an events.jsonl gone never rebuilds the run: the
store keeps what was read of it). A file that changes between two batches of one call is met the
same way: ingestion starts again from what it stored. Each such re-read, and an events.jsonl gone
after it was read, is recorded as a log row with level warning and no seq (`read.record_notes`:
`show` and the app's run detail show them).

A line whose field does not hold what its type says (events.SHAPES: a metric table that is a number,
a time that is a string) is stored as the error log row the reader put in its place, naming file
and line; the rest of the run is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import events as ev
from workbench import faults, rundir
from workbench.events import (
    Artifact,
    Checkpoint,
    End,
    Eval,
    Event,
    FileMark,
    Log,
    Model,
    Reading,
    Start,
    Step,
    Summary,
    Telemetry,
    read_from,
)
from workbench.store.rows import insert_rows, utc
from workbench.store.schema import ALL_LABELS
from workbench.store.write import delete_rank, delete_run, insert_run, recipe_values, supersede, transaction


@dataclass
class IngestResult:
    run_id: str
    stored: int = 0  # events newly stored, of every event file (a count: a long run's seqs would be held whole)
    last_seq: int | None = None  # the last of them from events.jsonl
    warnings: list[str] = field(default_factory=list)  # unreadable or unfit lines, then the notes (with the folder's path)
    status: str | None = None
    notes: list[str] = field(default_factory=list)  # recorded now: an event file read again, or gone
    events_gone: bool = False  # events.jsonl was read before and is not there now


# Event lines read and stored per batch: what ingestion holds at once, whatever the file's size
# (the rows of one batch are built, inserted and dropped before the next is read).
BATCH_BYTES = 16 << 20


@dataclass
class _File:
    """One event file of a run: where ingestion stood in it (`mark`, last seq stored) and the batch it
    read now (`reading`)."""
    path: Path
    mark: FileMark
    last_seq: int
    reading: Reading

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def new(self) -> list[Event]:
        # seq rises through a file: only a file read again from its start repeats stored events
        events = self.reading.result.events
        return events if not events or events[0].seq > self.last_seq else [e for e in events if e.seq > self.last_seq]

    @property
    def other_stream(self) -> bool:
        """Replaced by a file holding other events under seqs already stored."""
        r = self.reading
        return bool(r.restarted) and not r.same_file and any(e.seq <= self.last_seq for e in r.result.events)

    @property
    def more(self) -> bool:
        return not self.reading.missing and self.reading.result.more

    def read_on(self, run_dir: Path) -> None:
        """The batch after the one stored: the stored one is let go first."""
        new = self.new
        self.last_seq = max(self.last_seq, new[-1].seq) if new else self.last_seq
        self.mark = self.reading.mark
        self.reading.result.events.clear()
        self.reading = _read(run_dir, self.path, self.mark)


def ingest_run(con, run_dir: Path) -> IngestResult:
    """Store the events of one run folder that are not stored yet. Safe to repeat.

    One transaction per batch of BATCH_BYTES of event lines (one for most calls), registration of a
    new run and the per-rank files included: each statement costs DuckDB a millisecond or so whatever
    its size, which for `workbench sync` of many runs adds up. Each batch is stored, with how far each
    file is read, before the next is read. A file found changed between two batches (replaced while
    `sync` reads a long run) ends the pass: what is stored, marks included, is consistent, and the next
    pass starts from it as a new call would (the change noted, a rebuild decided). Raises
    RunFolderError for a folder that is not a run (nothing written)."""
    run_dir = Path(run_dir)
    meta = rundir.read_run_meta(run_dir, own_folder=True)
    result = IngestResult(meta["run_id"])
    while _ingest_pass(con, run_dir, meta, result):
        pass
    return result


def _ingest_pass(con, run_dir: Path, meta: dict[str, Any], result: IngestResult) -> bool:
    """`ingest_run` from the marks stored, into `result`; True when a file changed between two batches
    (the pass stopped before the batch read from it: start again)."""
    run_id = meta["run_id"]
    known = con.execute("SELECT events_offset, events_lines, last_seq, status, events_head, events_tail FROM runs "
                        "WHERE run_id = ?", [run_id]).fetchone()
    paths = rundir.event_files(run_dir)
    stored: dict[str, tuple[FileMark, int]] = {}
    if known:
        stored[rundir.EVENTS] = (FileMark(*known[0:2], *known[4:6]), known[2])
        if len(paths) > 1:  # rank files (a query per run costs `sync` of many runs a millisecond each)
            for name, *mark, last in con.execute("SELECT file, events_offset, events_lines, events_head, events_tail, "
                                                 "last_seq FROM event_files WHERE run_id = ?", [run_id]).fetchall():
                stored[name] = (FileMark(*mark), last)
    files = _read_files(run_dir, paths, stored)
    main = files[0]
    # Another stream in events.jsonl: the run is read again from its files alone. In a rank file: that
    # rank's rows only. An events.jsonl gone (missing) never rebuilds: the store keeps what it read.
    rebuild = bool(known) and main.other_stream
    ranks_over = [f for f in files[1:] if f.other_stream] if known and not rebuild else []
    if rebuild:
        notes = [f"{f.name} {f.reading.restarted}, and holds other events than those stored from it: the run was "
                 "read again from its files as they are now (what only the earlier file held left the store)"
                 for f in files if f.other_stream]
        stored = {}
        files = _read_files(run_dir, paths, stored)
        main = files[0]
    else:
        notes = [f"{f.name} {f.reading.restarted}, and holds other events than those stored from it: rank "
                 f"{rundir.rank_of(f.path)}'s rows (its telemetry and logs) were read again from it as it is now "
                 "(what only the earlier file held left the store)" if f in ranks_over else
                 f"{f.name} {f.reading.restarted}; read again from its start" for f in files if f.reading.restarted]
        for f in ranks_over:
            f.mark, f.last_seq = FileMark(), -1  # stored anew from its first event (its rows go first)
    gone = main.reading.missing and main.mark.offset > 0
    if gone:
        note = (f"{rundir.EVENTS} is gone from the run folder (deleted?) after {main.mark.offset:,} bytes were read "
                f"(events up to seq {main.last_seq}): the store keeps those")
        if not con.execute("SELECT 1 FROM logs WHERE run_id = ? AND seq IS NULL AND message = ?",
                           [run_id, note]).fetchone():
            notes.append(note)
    status = known[3] if known and not rebuild else "queued"
    result.status, result.events_gone = status, gone
    result.notes += notes
    result.warnings += [w for f in files for w in f.reading.result.warnings]
    batch = [f for f in files if not f.reading.missing and (f.new or f.reading.mark != f.mark)]
    if known and not rebuild and not batch and not notes:
        return False
    values = recipe_values(run_dir) if rebuild or not known else None  # read first: a corrupt one writes nothing
    first, changed = True, False
    while True:
        # A transaction per batch: DuckDB keeps the Python strings it scanned until the commit.
        with transaction(con):
            faults.at("ingest")  # the fault probes' SIGKILL inside the transaction (tests/faults)
            if first:
                if rebuild:
                    delete_run(con, run_id)
                for f in ranks_over:
                    delete_rank(con, run_id, rundir.rank_of(f.path))
                if values is not None:
                    insert_run(con, run_dir, meta, values)
                if notes:
                    insert_rows(con, "logs", [[run_id, None, time.time(), "warning", n] for n in notes])
            for f in batch:
                if f is main:
                    status = _store_main(con, run_dir, run_id, f, bool(meta.get("stop_requested_at"))).get(
                        "status", status)
                else:
                    _store_rank(con, run_id, f)
        for f in batch:
            new = f.new
            result.stored += len(new)
            if f is main and new:
                result.last_seq = new[-1].seq
            result.warnings += [e.message for e in new if ev.stand_in(e)]
        first = False
        batch = [f for f in batch if f.more]
        if not batch:
            break
        for f in batch:
            f.read_on(run_dir)
        if any(f.reading.restarted for f in batch):
            changed = True  # not the file read so far: start again from what is stored
            break
        for f in batch:
            result.warnings += f.reading.result.warnings
    result.warnings += [f"{run_dir}/{n}" for n in notes]
    result.status = status
    return changed


def _read(run_dir: Path, path: Path, mark: FileMark) -> Reading:
    try:
        return read_from(path, mark, max_bytes=BATCH_BYTES)
    except OSError as e:
        raise rundir.RunFolderError(run_dir, path.name, f"cannot be read ({e.strerror or e})") from None


def _read_files(run_dir: Path, paths: list[Path], stored: dict[str, tuple[FileMark, int]]) -> list[_File]:
    """events.jsonl, then the rank files (ranks > 0 write only telemetry and their own errors), each
    read on from its stored mark (a first batch)."""
    out = []
    for path in paths:
        mark, last = stored.get(path.name, (FileMark(), -1))
        out.append(_File(path, mark, last, _read(run_dir, path, mark)))
    return out


def _store_main(con, run_dir: Path, run_id: str, f: _File, stop_requested: bool) -> dict[str, Any]:
    """events.jsonl's new events, and its mark, into the store; the run's columns they update. A run
    `workbench stop` interrupted is cancelled (as its follower settles it: launch/follow.py
    final_status), so a store rebuilt from the folders says what the live one said."""
    new = f.new
    updates: dict[str, Any] = {}
    for part in _attempts(new):
        first = part[0]
        if isinstance(first, Start) and isinstance(first.resumed, dict):
            supersede(con, run_id, first.resumed)
        rows = _rows(run_id, part)
        for table, data in rows.tables.items():
            if data:
                insert_rows(con, table, data)
        updates.update(rows.run_updates)
    if updates.get("status") == "interrupted" and stop_requested:
        updates.update(status="cancelled", error="cancelled by workbench stop")
    if "mlflow_run_id" in updates and rundir.read_annotations(run_dir)["mlflow"]:
        # `export-mlflow` sent the run since (its record, in annotations.json, is the newer one)
        updates.pop("mlflow_run_id")
        updates.pop("mlflow_uri", None)
    mark = f.reading.mark
    sets = {"events_offset": mark.offset, "events_lines": mark.line, "events_head": mark.head,
            "events_tail": mark.tail, "last_seq": max(f.last_seq, new[-1].seq) if new else f.last_seq, **updates}
    assignments = [f"{k} = ?" for k in sets]
    params = list(sets.values())
    if "ended_at" in updates:  # SET reads the old started_at: pass this batch's when it has one
        sets.pop("duration_s", None)
        assignments = [f"{k} = ?" for k in sets] + ["duration_s = epoch(?::TIMESTAMP - coalesce(?::TIMESTAMP, started_at))"]
        params = [*sets.values(), updates["ended_at"], updates.get("started_at")]
    con.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE run_id = ?", [*params, run_id])
    return updates


def _store_rank(con, run_id: str, f: _File) -> None:
    """A rank file's new telemetry and errors (its log lines tagged `[rank N]`), and its mark."""
    new = f.new
    rank = rundir.rank_of(Path(f.name))
    for e in new:
        if isinstance(e, Log):
            e.message = f"[rank {rank}] {e.message}"
    rows = _rows(run_id, [e for e in new if isinstance(e, (Telemetry, Log))])
    for table, data in rows.tables.items():
        if data:
            insert_rows(con, table, data)
    mark = f.reading.mark
    con.execute("INSERT OR REPLACE INTO event_files (run_id, file, events_offset, events_lines, last_seq, events_head, "
                "events_tail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run_id, f.name, mark.offset, mark.line, max([f.last_seq] + [e.seq for e in new]), mark.head, mark.tail])


def _attempts(events: list[Event]) -> list[list[Event]]:
    """The events cut before each `start`: a resumed start first drops what it supersedes."""
    cuts = [i for i, e in enumerate(events) if e.type == "start" and i]
    return [events[a:b] for a, b in zip([0] + cuts, cuts + [len(events)])] if events else []


def _bias_rows(run_id: str, seq: int | None, phase: str | None, split: str, positive: str,
               report: dict[str, Any]) -> list[list[Any]]:
    """`fairness` rows of one positive class's bias report (an eval event's `bias`), in table order."""
    rows = []
    for g in report.get("groups") or []:
        if not isinstance(g, dict):
            continue
        said = g.get("reasons")
        reasons: dict[str, Any] = said if isinstance(said, dict) else {}
        flagged = g.get("flagged")
        rows.append([run_id, seq, phase, split, _text(g.get("group")), _int(g.get("examples")),
                     _int(g.get("negatives")), _int(g.get("false_positives")), _num(g.get("fpr")),
                     _num(g.get("max_fpr")), None if flagged is None else bool(flagged),
                     _text(g.get("group_column")), positive, _int(g.get("positives")), _int(g.get("false_negatives")),
                     _num(g.get("fnr")), _num(g.get("max_fnr")), _num(g.get("subgroup_auc")), _num(g.get("bpsn_auc")),
                     _num(g.get("bnsp_auc")),
                     "; ".join(f"{m}: {why}" for m, why in sorted(reasons.items())) or None])
    return rows


@dataclass
class _Rows:
    tables: dict[str, list[list[Any]]]
    run_updates: dict[str, Any]


def _rows(run_id: str, events: list[Event]) -> _Rows:
    t: dict[str, list[list[Any]]] = {"steps": [], "evals": [], "telemetry": [], "artifacts": [], "logs": [],
                                     "fairness": [], "confusion": [], "targets": []}
    upd: dict[str, Any] = {}
    for e in events:
        seq, ts = e.seq, e.t
        if isinstance(e, Telemetry):  # the most frequent: first
            t["telemetry"].append([run_id, seq, ts, e.host, e.rank, e.gpu, e.util, e.mem_used, e.mem_total, e.power_w,
                                   e.temp_c, e.cpu_pct, e.rss_bytes])
        elif isinstance(e, Step):
            t["steps"].append([run_id, seq, ts, e.step, e.epoch, e.loss, e.lr, e.grad_norm, e.samples_per_s,
                               e.tokens_per_s])
        elif isinstance(e, Eval):
            base = [run_id, seq, ts, e.phase, e.split, e.step, e.epoch]
            for label, metrics in (e.labels or {}).items():
                for metric, value in metrics.items():
                    t["evals"].append(base + [label, metric, _num(value)])
            for metric, value in (e.aggregates or {}).items():
                t["evals"].append(base + [ALL_LABELS, metric, _num(value)])
            for gold, row in (e.confusion or {}).items():  # the cells that are not zero (runs before wrote all)
                for predicted, n in row.items():
                    if n:
                        t["confusion"].append([run_id, seq, e.phase, e.split, gold, predicted, _int(n)])
            for grp, g in sorted((e.groups or {}).items()):  # runs before schema 10
                t["fairness"].append([run_id, seq, e.phase, e.split, grp,
                                      _int(g.get("examples")), _int(g.get("negatives")), _int(g.get("false_positives")),
                                      _num(g.get("fpr")), _num(g.get("max_fpr")),
                                      None if g.get("flagged") is None else bool(g.get("flagged"))] + [None] * 10)
            for positive, report in (e.bias or {}).items():
                t["fairness"].extend(_bias_rows(run_id, seq, e.phase, e.split, positive, report))
        elif isinstance(e, (Artifact, Checkpoint)):
            extra = dict(e.extra or {})  # the JSON column: every field but kind and path
            if isinstance(e, Artifact):
                kind = e.kind
            else:
                kind = None
                if e.step is not None:
                    extra = {"step": e.step, **extra}
            t["artifacts"].append([run_id, seq, kind or e.type, e.path, json.dumps(extra)])
            if kind in ("adapter", "model") and extra.get("bytes") is not None:
                upd["saved_bytes"] = _int(extra["bytes"])
        elif isinstance(e, Log):
            t["logs"].append([run_id, seq, ts, e.level, e.message])
        elif isinstance(e, Start):
            upd.update(status="running", host=e.host, world_size=_int(e.world_size, 32), pid=_int(e.pid, 32),
                       versions=json.dumps(e.versions or {}), attempts=_int(e.attempt, 32) or 1)
            if isinstance(e.resumed, dict):  # started_at stays the first start's
                upd.update(ended_at=None, duration_s=None, error=None, train_runtime_s=None,
                           train_samples_per_s=None, saved_bytes=None, warnings=None, targets_met=None)
            else:
                upd.update(started_at=utc(ts))
        elif isinstance(e, Model):
            upd.update(trainable_params=_int(e.trainable_params), total_params=_int(e.total_params),
                       quantized=e.quantized)
        elif isinstance(e, Summary):
            upd.update(train_runtime_s=_num(e.train_runtime_s), train_samples_per_s=_num(e.train_samples_per_s),
                       peak_mem_bytes=_int(e.peak_mem_bytes), peak_mem_kind=e.peak_mem_kind, optimizer=e.optimizer)
        elif isinstance(e, ev.Warnings):
            upd["warnings"] = [str(w.get("message", "")) for w in (e.items or []) if isinstance(w, dict)]
        elif isinstance(e, ev.Targets):
            items = [i for i in (e.items or []) if isinstance(i, dict)]
            for i in items:
                t["targets"].append([run_id, seq, str(i.get("metric")), str(i.get("split")), _num(i.get("target")),
                                     _num(i.get("value")), bool(i.get("met"))])
            upd["targets_met"] = all(bool(i.get("met")) for i in items) if items else None
        elif isinstance(e, ev.Tracking):
            if e.service == "mlflow":
                upd.update(mlflow_run_id=e.run, mlflow_uri=e.uri)
        elif isinstance(e, End):
            upd.update(status=e.status, ended_at=utc(ts), error=e.error)
    return _Rows(t, upd)


def _int(v: Any, bits: int = 64) -> int | None:
    """An integer column's value (BIGINT, or INTEGER with bits=32): None for what it cannot hold."""
    n = _num(v)
    return int(n) if n is not None and -2.0 ** (bits - 1) <= n < 2.0 ** (bits - 1) else None  # NaN compares false


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a double's range
        return None




def _text(v: Any) -> str | None:
    """A VARCHAR column's value: a string, a number as written; None for anything else (a list, an object)."""
    if isinstance(v, str):
        return v
    return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
