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

from workbench import rundir
from workbench.events import read_events
from workbench.store.rows import insert_rows, utc
from workbench.store.schema import ALL_LABELS
from workbench.store.write import insert_run, supersede


@dataclass
class IngestResult:
    run_id: str
    events: list[dict[str, Any]] = field(default_factory=list)  # newly stored events, in order
    warnings: list[str] = field(default_factory=list)
    status: str | None = None


def ingest_run(con, run_dir: Path) -> IngestResult:
    """Store the events of one run folder that are not stored yet. Safe to repeat.

    One transaction per call, registration of a new run included: each statement costs DuckDB
    a millisecond or so whatever its size, which for `workbench sync` of many runs adds up."""
    run_dir = Path(run_dir)
    meta = rundir.read_run_meta(run_dir)
    run_id = meta["run_id"]
    known = con.execute("SELECT events_offset, events_lines, last_seq, status FROM runs WHERE run_id = ?",
                        [run_id]).fetchone()
    offset, lines, last_seq, status = known or (0, 0, -1, "queued")
    rank_new = _ingest_rank_files(con, run_id, run_dir) if known else IngestResult(run_id)
    read = read_events(rundir.events_file(run_dir), offset, lines)
    events = read.events  # seq rises through the file: only a re-read start can repeat stored events
    new = events if not events or events[0]["seq"] > last_seq else [e for e in events if e["seq"] > last_seq]
    result = IngestResult(run_id, new + rank_new.events, read.warnings + rank_new.warnings, status)
    if known and read.offset == offset and not new:
        return result
    con.execute("BEGIN")
    if not known:
        insert_run(con, run_dir, meta)
    updates: dict[str, Any] = {}
    for part in _attempts(new):
        if part[0].get("type") == "start" and isinstance(part[0].get("resumed"), dict):
            supersede(con, run_id, part[0]["resumed"])
        rows = _rows(run_id, part)
        for table, data in rows.tables.items():
            if data:
                insert_rows(con, table, data)
        updates.update(rows.run_updates)
    sets = {"events_offset": read.offset, "events_lines": read.line,
            "last_seq": max(last_seq, new[-1]["seq"]) if new else last_seq, **updates}
    assignments = [f"{k} = ?" for k in sets]
    params = list(sets.values())
    if "ended_at" in updates:  # SET reads the old started_at: pass this batch's when it has one
        sets.pop("duration_s", None)
        assignments = [f"{k} = ?" for k in sets] + ["duration_s = epoch(?::TIMESTAMP - coalesce(?::TIMESTAMP, started_at))"]
        params = [*sets.values(), updates["ended_at"], updates.get("started_at")]
    con.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE run_id = ?", [*params, run_id])
    con.execute("COMMIT")
    if not known:
        rank_new = _ingest_rank_files(con, run_id, run_dir)
        result.events += rank_new.events
        result.warnings += rank_new.warnings
    result.status = updates.get("status", status)
    return result


def _ingest_rank_files(con, run_id: str, run_dir: Path) -> IngestResult:
    """Ranks > 0 write only telemetry and their own errors, each to events.rank<N>.jsonl."""
    out = IngestResult(run_id)
    for path in rundir.rank_event_files(run_dir):
        state = con.execute("SELECT events_offset, events_lines, last_seq FROM event_files WHERE run_id = ? AND file = ?",
                            [run_id, path.name]).fetchone() or (0, 0, -1)
        read = read_events(path, state[0], state[1])
        new = [e for e in read.events if e["seq"] > state[2]]
        out.warnings += read.warnings
        if read.offset == state[0] and not new:
            continue
        rank = rundir.rank_of(path)
        for e in new:
            if e["type"] == "log":
                e["message"] = f"[rank {rank}] {e.get('message', '')}"
        rows = _rows(run_id, [e for e in new if e["type"] in ("telemetry", "log")])
        con.execute("BEGIN")
        for table, data in rows.tables.items():
            if data:
                insert_rows(con, table, data)
        con.execute("INSERT OR REPLACE INTO event_files VALUES (?, ?, ?, ?, ?)",
                    [run_id, path.name, read.offset, read.line, max([state[2]] + [e["seq"] for e in new])])
        con.execute("COMMIT")
        out.events += new
    return out


def _attempts(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events cut before each `start`: a resumed start first drops what it supersedes."""
    cuts = [i for i, e in enumerate(events) if e["type"] == "start" and i]
    return [events[a:b] for a, b in zip([0] + cuts, cuts + [len(events)])] if events else []


@dataclass
class _Rows:
    tables: dict[str, list[list[Any]]]
    run_updates: dict[str, Any]


def _rows(run_id: str, events: list[dict[str, Any]]) -> _Rows:
    t: dict[str, list[list[Any]]] = {"steps": [], "evals": [], "telemetry": [], "artifacts": [], "logs": [],
                                     "fairness": []}
    upd: dict[str, Any] = {}
    for e in events:
        kind, seq, ts = e["type"], e["seq"], e.get("t")
        if kind == "telemetry":  # the most frequent: first
            t["telemetry"].append([run_id, seq, ts, e.get("host"), e.get("rank"), e.get("gpu"), e.get("util"),
                                   e.get("mem_used"), e.get("mem_total"), e.get("power_w"), e.get("temp_c"),
                                   e.get("cpu_pct"), e.get("rss_bytes")])
        elif kind == "step":
            t["steps"].append([run_id, seq, ts, e.get("step"), e.get("epoch"), e.get("loss"), e.get("lr"),
                               e.get("grad_norm"), e.get("samples_per_s"), e.get("tokens_per_s")])
        elif kind == "eval":
            base = [run_id, seq, ts, e.get("phase"), e.get("split", "validation"), e.get("step"), e.get("epoch")]
            for label, metrics in (e.get("labels") or {}).items():
                for metric, value in metrics.items():
                    t["evals"].append(base + [label, metric, _num(value)])
            for metric, value in (e.get("aggregates") or {}).items():
                t["evals"].append(base + [ALL_LABELS, metric, _num(value)])
            for grp, g in sorted((e.get("groups") or {}).items()):
                t["fairness"].append([run_id, seq, e.get("phase"), e.get("split", "validation"), grp,
                                      _int(g.get("examples")), _int(g.get("negatives")), _int(g.get("false_positives")),
                                      _num(g.get("fpr")), _num(g.get("max_fpr")),
                                      None if g.get("flagged") is None else bool(g.get("flagged"))])
        elif kind in ("artifact", "checkpoint"):
            extra = {k: v for k, v in e.items() if k not in ("seq", "t", "type", "kind", "path")}
            t["artifacts"].append([run_id, seq, e.get("kind", kind), e.get("path"), json.dumps(extra)])
            if e.get("kind") in ("adapter", "model") and e.get("bytes") is not None:
                upd["saved_bytes"] = e.get("bytes")
        elif kind == "log":
            t["logs"].append([run_id, seq, ts, e.get("level", "info"), e.get("message", "")])
        elif kind == "start":
            upd.update(status="running", host=e.get("host"), world_size=e.get("world_size"), pid=e.get("pid"),
                       versions=json.dumps(e.get("versions", {})), attempts=_int(e.get("attempt")) or 1)
            if isinstance(e.get("resumed"), dict):  # started_at stays the first start's
                upd.update(ended_at=None, duration_s=None, error=None, train_runtime_s=None,
                           train_samples_per_s=None, saved_bytes=None)
            else:
                upd.update(started_at=utc(ts))
        elif kind == "model":
            upd.update(trainable_params=e.get("trainable_params"), total_params=e.get("total_params"),
                       quantized=e.get("quantized"))
        elif kind == "summary":
            upd.update(train_runtime_s=_num(e.get("train_runtime_s")), train_samples_per_s=_num(e.get("train_samples_per_s")),
                       peak_mem_bytes=_int(e.get("peak_mem_bytes")), peak_mem_kind=e.get("peak_mem_kind"),
                       optimizer=e.get("optimizer"))
        elif kind == "end":
            upd.update(status=e.get("status", "failed"), ended_at=utc(ts), error=e.get("error"))
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


