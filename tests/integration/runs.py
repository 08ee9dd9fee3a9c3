"""Helpers for tests that launch runs: find run folders, wait for events, read the store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb


def q(store: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def events_of(run_dir: Path, name: str = "events.jsonl") -> list[dict]:
    path = Path(run_dir) / name
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # a torn last line is not an event yet
    return [json.loads(line) for line in lines if line.strip()]


def wait_for(predicate, timeout: float = 240, what: str = "condition", every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_dir_from_output(stdout: str, root: Path) -> Path:
    """`run <id> started ...` → the run folder under root/runs."""
    for line in stdout.splitlines():
        if line.startswith("run ") and " started" in line:
            return root / "runs" / line.split()[1]
    raise AssertionError(f"no run id in output:\n{stdout}")


def wait_for_step(run_dir: Path, timeout: float = 240) -> list[dict]:
    return wait_for(lambda: [e for e in events_of(run_dir) if e["type"] == "step"], timeout, "a training step")


def assert_every_event_stored_once(store: Path, run_id: str, run_dir: Path) -> None:
    """Each event the trainer wrote is in the store exactly once (no gaps, no duplicates)."""
    events = events_of(run_dir)
    assert [e["seq"] for e in events] == list(range(len(events))), "events file seq must be 0..n-1"
    stored = q(store, """SELECT seq FROM steps WHERE run_id = $1 UNION ALL SELECT DISTINCT seq FROM evals WHERE run_id = $1
                         UNION ALL SELECT seq FROM logs WHERE run_id = $1 AND NOT starts_with(message, '[rank ')
                         UNION ALL SELECT seq FROM telemetry WHERE run_id = $1 AND rank = 0
                         UNION ALL SELECT seq FROM artifacts WHERE run_id = $1""", [run_id])
    seqs = sorted(s for (s,) in stored)
    want = sorted(e["seq"] for e in events if e["type"] in ("step", "eval", "log", "telemetry", "artifact", "checkpoint"))
    assert seqs == want
    last = q(store, "SELECT last_seq FROM runs WHERE run_id = ?", [run_id])[0][0]
    assert last == events[-1]["seq"]
