"""Ingesting run folders into the store.

A run folder (workbench/rundir.py) holds `run.json` (written by the launcher), `recipe.toml`
(the frozen recipe) and `events.jsonl` (written by the trainer). Ingestion is idempotent: it keys on
(run_id, seq) and remembers how far into events.jsonl it has read, so followers can call it
as often as they like, and `workbench sync` can rebuild the whole store from the folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import events as ev
from workbench import rundir
from workbench.events import Artifact, Checkpoint, End, Eval, Event, Log, Model, Start, Step, Summary, Telemetry, read_events
from workbench.store.rows import insert_rows, utc
from workbench.store.schema import ALL_LABELS
from workbench.store.write import insert_run, recipe_values, supersede, transaction


@dataclass
class IngestResult:
    run_id: str
    events: list[Event] = field(default_factory=list)  # newly stored events, in order
    warnings: list[str] = field(default_factory=list)
    status: str | None = None


def ingest_run(con, run_dir: Path) -> IngestResult:
    """Store the events of one run folder that are not stored yet. Safe to repeat.

    One transaction per call, registration of a new run included: each statement costs DuckDB
    a millisecond or so whatever its size, which for `workbench sync` of many runs adds up."""
    run_dir = Path(run_dir)
    meta = rundir.read_run_meta(run_dir, own_folder=True)  # RunFolderError: not a run (`sync` skips it)
    run_id = meta["run_id"]
    known = con.execute("SELECT events_offset, events_lines, last_seq, status FROM runs WHERE run_id = ?",
                        [run_id]).fetchone()
    offset, lines, last_seq, status = known or (0, 0, -1, "queued")
    rank_new = _ingest_rank_files(con, run_id, run_dir) if known else IngestResult(run_id)
    read = read_events(rundir.events_file(run_dir), offset, lines)
    events = read.events  # seq rises through the file: only a re-read start can repeat stored events
    new = events if not events or events[0].seq > last_seq else [e for e in events if e.seq > last_seq]
    result = IngestResult(run_id, new + rank_new.events, read.warnings + rank_new.warnings, status)
    if known and read.offset == offset and not new:
        return result
    values = None if known else recipe_values(run_dir)  # read first: a corrupt one writes nothing
    with transaction(con):
        _store_events(con, run_dir, run_id, meta, values, new, read, last_seq, result)
    if not known:
        rank_new = _ingest_rank_files(con, run_id, run_dir)
        result.events += rank_new.events
        result.warnings += rank_new.warnings
    return result


def _store_events(con, run_dir: Path, run_id: str, meta: dict[str, Any], values: dict[str, Any] | None,
                  new: list[Event], read, last_seq: int, result: IngestResult) -> None:
    if values is not None:
        insert_run(con, run_dir, meta, values)
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
    if "mlflow_run_id" in updates and rundir.read_annotations(run_dir)["mlflow"]:
        # `export-mlflow` sent the run since (its record, in annotations.json, is the newer one)
        updates.pop("mlflow_run_id")
        updates.pop("mlflow_uri", None)
    sets = {"events_offset": read.offset, "events_lines": read.line,
            "last_seq": max(last_seq, new[-1].seq) if new else last_seq, **updates}
    assignments = [f"{k} = ?" for k in sets]
    params = list(sets.values())
    if "ended_at" in updates:  # SET reads the old started_at: pass this batch's when it has one
        sets.pop("duration_s", None)
        assignments = [f"{k} = ?" for k in sets] + ["duration_s = epoch(?::TIMESTAMP - coalesce(?::TIMESTAMP, started_at))"]
        params = [*sets.values(), updates["ended_at"], updates.get("started_at")]
    con.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE run_id = ?", [*params, run_id])
    result.status = updates.get("status", result.status)


def _ingest_rank_files(con, run_id: str, run_dir: Path) -> IngestResult:
    """Ranks > 0 write only telemetry and their own errors, each to events.rank<N>.jsonl."""
    out = IngestResult(run_id)
    for path in rundir.rank_event_files(run_dir):
        state = con.execute("SELECT events_offset, events_lines, last_seq FROM event_files WHERE run_id = ? AND file = ?",
                            [run_id, path.name]).fetchone() or (0, 0, -1)
        read = read_events(path, state[0], state[1])
        new = [e for e in read.events if e.seq > state[2]]
        out.warnings += read.warnings
        if read.offset == state[0] and not new:
            continue
        rank = rundir.rank_of(path)
        for e in new:
            if isinstance(e, Log):
                e.message = f"[rank {rank}] {e.message}"
        rows = _rows(run_id, [e for e in new if isinstance(e, (Telemetry, Log))])
        with transaction(con):
            for table, data in rows.tables.items():
                if data:
                    insert_rows(con, table, data)
            con.execute("INSERT OR REPLACE INTO event_files VALUES (?, ?, ?, ?, ?)",
                        [run_id, path.name, read.offset, read.line, max([state[2]] + [e.seq for e in new])])
        out.events += new
    return out


def _attempts(events: list[Event]) -> list[list[Event]]:
    """The events cut before each `start`: a resumed start first drops what it supersedes."""
    cuts = [i for i, e in enumerate(events) if e.type == "start" and i]
    return [events[a:b] for a, b in zip([0] + cuts, cuts + [len(events)])] if events else []


@dataclass
class _Rows:
    tables: dict[str, list[list[Any]]]
    run_updates: dict[str, Any]


def _rows(run_id: str, events: list[Event]) -> _Rows:
    t: dict[str, list[list[Any]]] = {"steps": [], "evals": [], "telemetry": [], "artifacts": [], "logs": [],
                                     "fairness": [], "confusion": []}
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
            for gold, row in (e.confusion or {}).items():
                for predicted, n in row.items():
                    t["confusion"].append([run_id, seq, e.phase, e.split, gold, predicted, _int(n)])
            for grp, g in sorted((e.groups or {}).items()):
                t["fairness"].append([run_id, seq, e.phase, e.split, grp,
                                      _int(g.get("examples")), _int(g.get("negatives")), _int(g.get("false_positives")),
                                      _num(g.get("fpr")), _num(g.get("max_fpr")),
                                      None if g.get("flagged") is None else bool(g.get("flagged"))])
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
                upd["saved_bytes"] = extra["bytes"]
        elif isinstance(e, Log):
            t["logs"].append([run_id, seq, ts, e.level, e.message])
        elif isinstance(e, Start):
            upd.update(status="running", host=e.host, world_size=e.world_size, pid=e.pid,
                       versions=json.dumps(e.versions or {}), attempts=_int(e.attempt) or 1)
            if isinstance(e.resumed, dict):  # started_at stays the first start's
                upd.update(ended_at=None, duration_s=None, error=None, train_runtime_s=None,
                           train_samples_per_s=None, saved_bytes=None, warnings=None)
            else:
                upd.update(started_at=utc(ts))
        elif isinstance(e, Model):
            upd.update(trainable_params=e.trainable_params, total_params=e.total_params, quantized=e.quantized)
        elif isinstance(e, Summary):
            upd.update(train_runtime_s=_num(e.train_runtime_s), train_samples_per_s=_num(e.train_samples_per_s),
                       peak_mem_bytes=_int(e.peak_mem_bytes), peak_mem_kind=e.peak_mem_kind, optimizer=e.optimizer)
        elif isinstance(e, ev.Warnings):
            upd["warnings"] = [str(w.get("message", "")) for w in (e.items or []) if isinstance(w, dict)]
        elif isinstance(e, ev.Tracking):
            if e.service == "mlflow":
                upd.update(mlflow_run_id=e.run, mlflow_uri=e.uri)
        elif isinstance(e, End):
            upd.update(status=e.status, ended_at=utc(ts), error=e.error)
    return _Rows(t, upd)


def _int(v: Any) -> int | None:
    n = _num(v)
    return None if n is None else int(n)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


