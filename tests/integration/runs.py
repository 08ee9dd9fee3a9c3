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
                         AND seq IS NOT NULL
                         UNION ALL SELECT seq FROM telemetry WHERE run_id = $1 AND rank = 0
                         UNION ALL SELECT seq FROM artifacts WHERE run_id = $1""", [run_id])
    seqs = sorted(s for (s,) in stored)
    want = sorted(e["seq"] for e in events if e["type"] in ("step", "eval", "log", "telemetry", "artifact", "checkpoint"))
    assert seqs == want
    last = q(store, "SELECT last_seq FROM runs WHERE run_id = ?", [run_id])[0][0]
    assert last == events[-1]["seq"]


def write_run_folder(root: Path, run_id: str, *, target: str = "local", steps: int = 3, end: str | None = "completed",
                     job: dict | None = None, exit_record: dict | None = None, pid: int = 0,
                     created_at: float | None = None) -> Path:
    """A run folder as the launcher, agent, trainer and supervisor leave it, written by workbench's own
    writers (no training): the frozen demo recipe, run.json, job.json (`job`), events.jsonl (start with
    the trainer's `pid`, model, `steps` steps, then `end` unless None) and exit.json (`exit_record`)."""
    from tests.conftest import DEMO_RECIPE
    from workbench import rundir
    from workbench.events import EventWriter
    from workbench.recipe import load_recipe, write_frozen

    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    recipe = load_recipe(DEMO_RECIPE)
    write_frozen(recipe, run_dir / rundir.RECIPE, f"Frozen recipe of run {run_id}")
    rundir.write_run_meta(run_dir, {"run_id": run_id, "recipe_name": recipe.name, "recipe_path": str(DEMO_RECIPE),
                                    "target": target, "created_at": created_at or time.time() - 3600,
                                    "host": "testhost"})
    if job is not None:
        rundir.write_job(run_dir, job)
    with EventWriter(rundir.events_file(run_dir)) as w:
        w.emit("start", run_id=run_id, recipe=recipe.values, versions={"python": "3"}, host="testhost", pid=pid,
               world_size=1)
        w.emit("model", trainable_params=1234, total_params=100000, source="tiny:distilbert", method="lora")
        for step in range(1, steps + 1):
            w.emit("step", step=step, max_steps=steps, epoch=step / steps, loss=1.0 / step, lr=1e-3)
        if end:
            w.emit("end", status=end, error=None if end == "completed" else f"the run {end}")
    if exit_record is not None:
        rundir.write_exit(run_dir, {"t": time.time(), "host": "testhost", **exit_record})
    return run_dir


def register(store: Path, run_dir: Path) -> None:
    """Record a run folder in the store as a launcher does before the job starts (status queued)."""
    from workbench.store.db import connect
    from workbench.store.write import register_run

    with connect(store) as con:
        register_run(con, run_dir)


def dead_pid() -> int:
    """The pid of a process that has ended (reaped)."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def study_rows(stdout: str) -> list[dict[str, str]]:
    """The trials table's rows below the `tune study` line: {column header: cell}."""
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("tune study "))
    header = [c.strip() for c in lines[start + 2].strip("┃").split("┃")]
    rows = []
    for ln in lines[start + 3:]:
        if ln.startswith("│"):
            rows.append(dict(zip(header, (c.strip() for c in ln.strip("│").split("│")))))
        elif rows and ln.startswith("└"):
            break
    return rows
