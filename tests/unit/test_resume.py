"""Resuming a run: which checkpoint a resumed trainer continues from, and how the store takes a
resumed attempt (it supersedes the killed attempt's later rows; a rebuild gives the same store)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_store import BASE, TUNED, make_run, rid
from workbench.events import EventWriter, parse_event
from workbench.rundir import events_file
from workbench.store.db import connect
from workbench.store.ingest import ingest_run
from workbench.train.resume import checkpoint_step, plan


def checkpoint(folder: Path, step: int, *, files=("adapter_model.safetensors", "optimizer.pt", "scheduler.pt"),
               state: str | None = None) -> Path:
    path = folder / "checkpoints" / f"checkpoint-{step}"
    path.mkdir(parents=True)
    for f in files:
        (path / f).write_bytes(b"x")
    if state is not False:
        (path / "trainer_state.json").write_text(state if state is not None else json.dumps({"global_step": step}))
    return path


def events(*lines: dict) -> list:
    """Event lines as the trainer reads them back: parsed, typed (seq as in the file)."""
    return [parse_event({"seq": i, **d}) for i, d in enumerate(lines)]


def test_first_start_is_attempt_one(tmp_path):
    r = plan(tmp_path, [])
    assert (r.attempt, r.checkpoint, r.step, r.base_kept) == (1, None, 0, [])


def test_resume_takes_the_newest_complete_checkpoint_and_deletes_torn_ones(tmp_path):
    good = checkpoint(tmp_path, 4)
    checkpoint(tmp_path, 8, files=("adapter_model.safetensors",))       # killed before the optimizer
    checkpoint(tmp_path, 12, state='{"global_st')                       # killed writing trainer_state.json
    checkpoint(tmp_path, 16, files=("optimizer.pt", "scheduler.pt"))    # weights deleted by a rotation
    prior = events({"type": "start"}, {"type": "eval", "phase": "base", "split": "validation"},
                   {"type": "eval", "phase": "epoch", "split": "validation"})
    r = plan(tmp_path, prior)
    assert (r.attempt, r.checkpoint, r.step, r.base_kept) == (2, good, 4, ["validation"])
    assert sorted(r.removed) == ["checkpoint-12", "checkpoint-16", "checkpoint-8"]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["checkpoint-4"]


def test_other_ranks_never_delete(tmp_path):
    checkpoint(tmp_path, 8, files=("adapter_model.safetensors",))
    r = plan(tmp_path, events({"type": "start"}), remove_torn=False)
    assert r.checkpoint is None and r.removed == [] and (tmp_path / "checkpoints" / "checkpoint-8").is_dir()


def test_checkpoint_state_must_match_its_folder(tmp_path):
    assert checkpoint_step(checkpoint(tmp_path, 6, state=json.dumps({"global_step": 5}))) is None


def emit_attempt(w: EventWriter, *, resumed: dict | None, steps, evals=(), end: str | None = None, attempt: int = 1):
    w.emit("start", run_id="r", recipe={}, versions={}, host="h", pid=1, world_size=1, attempt=attempt,
           **({"resumed": resumed} if resumed else {}))
    for step, loss in steps:
        w.emit("step", step=step, max_steps=8, epoch=step / 4, loss=loss, lr=1e-3, grad_norm=1.0,
               samples_per_s=1.0, tokens_per_s=None)
        if step % 4 == 0:
            w.emit("eval", phase="epoch", split="validation", step=step, epoch=step / 4, labels={},
                   aggregates={"loss": 1.0 / step})
            w.emit("checkpoint", step=step, path=f"checkpoints/checkpoint-{step}")
    for phase in evals:
        w.emit("eval", phase=phase, split="validation", step=8 if phase == "tuned" else 0, epoch=0.0,
               **(TUNED if phase == "tuned" else BASE))
        if phase == "tuned":
            w.emit("artifact", kind="predictions", path="predictions_validation.jsonl", split="validation")
    if end:
        w.emit("end", status=end, error=None)


def rows(store: Path, run_id: str) -> dict[str, list]:
    with connect(store, read_only=True) as con:
        return {
            "steps": con.execute("SELECT step, loss FROM steps WHERE run_id = ? ORDER BY step", [run_id]).fetchall(),
            "evals": con.execute("SELECT phase, step, count(*) FROM evals WHERE run_id = ? GROUP BY ALL ORDER BY ALL",
                                 [run_id]).fetchall(),
            "artifacts": con.execute("SELECT kind, json_extract_string(meta, '$.step') FROM artifacts WHERE run_id = ? "
                                     "ORDER BY seq", [run_id]).fetchall(),
            "run": con.execute("SELECT status, attempts, error, ended_at IS NULL, saved_bytes FROM runs WHERE run_id = ?",
                               [run_id]).fetchall(),
        }


def test_resumed_attempt_supersedes_what_it_redoes_live_and_rebuilt_alike(tmp_path, demo_recipe):
    run_dir = make_run(tmp_path / "runs", rid("r"), demo_recipe, end=None)
    (events_file(run_dir)).unlink()
    live = tmp_path / "live.duckdb"
    with EventWriter(events_file(run_dir)) as w:
        # attempt 1: base eval, steps 1-6 (checkpoint 4), the tuned eval of an attempt that got further
        emit_attempt(w, resumed=None, steps=[(s, 1.0 + s) for s in range(1, 7)], evals=["base"], end="failed")
    with connect(live) as con:
        ingest_run(con, run_dir)
    assert rows(live, rid("r"))["run"] == [("failed", 1, None, False, None)]
    with EventWriter(events_file(run_dir)) as w:
        # attempt 2 from checkpoint 4: steps 5-8 again (other losses), tuned eval, completed
        emit_attempt(w, resumed={"step": 4, "checkpoint": "checkpoints/checkpoint-4", "base_kept": ["validation"]},
                     steps=[(s, 0.5 / s) for s in range(5, 9)], evals=["tuned"], end="completed", attempt=2)
    with connect(live) as con:
        ingest_run(con, run_dir)
    got = rows(live, rid("r"))
    assert got["steps"] == [(s, 1.0 + s) for s in range(1, 5)] + [(s, 0.5 / s) for s in range(5, 9)]
    n_base = len(BASE["labels"]) * 4 + len(BASE["aggregates"])
    n_tuned = len(TUNED["labels"]) * 4 + len(TUNED["aggregates"])
    assert got["evals"] == [("base", 0, n_base), ("epoch", 4, 1), ("epoch", 8, 1), ("tuned", 8, n_tuned)]
    assert got["artifacts"] == [("checkpoint", "4"), ("checkpoint", "8"), ("predictions", None)]
    assert got["run"] == [("completed", 2, None, False, None)]

    rebuilt = tmp_path / "rebuilt.duckdb"
    with connect(rebuilt) as con:
        ingest_run(con, run_dir)  # both attempts in one batch
    assert rows(rebuilt, rid("r")) == got


def test_resumed_start_without_kept_base_redoes_it(tmp_path, demo_recipe):
    run_dir = make_run(tmp_path / "runs", rid("r"), demo_recipe, end=None)
    (events_file(run_dir)).unlink()
    with EventWriter(events_file(run_dir)) as w:
        emit_attempt(w, resumed=None, steps=[], evals=["base"])
        emit_attempt(w, resumed={"step": 0, "base_kept": []}, steps=[], evals=["base"], attempt=2)
    store = tmp_path / "s.duckdb"
    with connect(store) as con:
        ingest_run(con, run_dir)
    assert rows(store, rid("r"))["evals"] == [("base", 0, len(BASE["labels"]) * 4 + len(BASE["aggregates"]))]
    assert rows(store, rid("r"))["run"] == [("running", 2, None, True, None)]


def test_resume_refuses_a_completed_run_in_one_line(tmp_path, demo_recipe):
    from tests.conftest import workbench

    make_run(tmp_path / "runs", rid("r1"), demo_recipe)  # completed
    store = tmp_path / "runs.duckdb"
    assert workbench("sync", store=store, cwd=tmp_path).returncode == 0
    res = workbench("resume", rid("r1"), store=store, cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip() == (f"error: run {rid('r1')} is completed: only a failed, interrupted or cancelled run can be "
                                  "resumed")
    res = workbench("resume", "nope", store=store, cwd=tmp_path)
    assert res.returncode == 2 and "no run 'nope'" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_resumed_start_keeps_only_what_it_needs_of_the_earlier_attempts(tmp_path, demo_recipe):
    """Each start, the base evaluations and the MLflow run: what `plan` and the tracker read."""
    from workbench.train.resume import earlier_events

    run_dir = make_run(tmp_path, rid("keep"), demo_recipe, end="failed")
    with EventWriter(events_file(run_dir)) as w:
        w.emit("tracking", service="mlflow", run="abc", experiment="1", uri="file:///m")
        w.emit("eval", phase="epoch", split="validation", step=30, epoch=1.0, **TUNED)
        w.emit("start", run_id=run_dir.name, recipe={}, attempt=2)
    kept = earlier_events(events_file(run_dir))
    assert [(e.type, e.get("phase")) for e in kept] == [("start", None), ("eval", "base"), ("tracking", None),
                                                        ("start", None)]
    assert plan(run_dir, kept).attempt == 3


def _trainer_peak_rss(run_dir: Path) -> int:
    """The real trainer's `main` run on `run_dir` in a process of its own, to its end: its peak RSS in bytes
    (VmHWM, of this process's memory alone: a child's ru_maxrss counts the parent it was forked from)."""
    import subprocess
    import sys

    code = ("import sys; from workbench.train.main import main; main(sys.argv[1:]); "
            "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))")
    p = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.split()[-1]) * 1024  # kB


def test_a_resumed_trainer_holds_a_bounded_part_of_a_long_runs_events(tmp_path, demo_recipe):
    """Issue 25 review, item 9: the trainer read every earlier event at once and held them for the whole
    of the resumed run (peak 154 MiB with 24 MiB of events, 227 MiB with 48). Now it reads them in
    batches and keeps what it needs: its peak does not grow with the file (81 MiB with either). Here the
    recipe is broken, so the trainer stops right after reading them (and says why in its `end`)."""
    row = ('{"seq":%d,"t":1770000000.5,"type":"telemetry","host":"gpubox","rank":0,"gpu":0,"util":97.0,'
           '"mem_used":8589934592,"mem_total":68719476736,"power_w":250.0,"temp_c":61.0}\n')
    peaks = []
    for mib in (24, 48):
        run_dir = make_run(tmp_path, rid(f"long{mib}"), demo_recipe, end="failed")
        (run_dir / "recipe.toml").write_text("broken = [\n", encoding="utf-8")
        path = events_file(run_dir)
        first = len(path.read_bytes().splitlines())
        last = first + (mib << 20) // len(row % first)
        with open(path, "a", encoding="utf-8") as f:
            for s in range(first, last, 10_000):
                f.write("".join(row % i for i in range(s, min(s + 10_000, last))))
        peaks.append(_trainer_peak_rss(run_dir))
        end = json.loads(path.read_bytes().splitlines()[-1])
        assert (end["type"], end["status"]) == ("end", "failed") and end["seq"] > last  # its seq goes on
        assert "recipe.toml" in end["error"]
    assert peaks[1] - peaks[0] < 16 << 20, [p >> 20 for p in peaks]
