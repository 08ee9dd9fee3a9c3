"""A store of fixed sample runs, written as real run folders (run.json, recipe.toml,
events.jsonl) and ingested by the real ingestion code. Every time and value is fixed, so the
TUI's snapshot tests and the screenshots in docs/ are identical from one machine to the next;
`add_bulk_runs` fills a store with thousands of rows for the TUI's load benchmark.

    python -m tools.sample_store /tmp/sample/runs.duckdb   # then: WORKBENCH_STORE=... workbench
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
LABELS = ("advertisement", "irrelevant_content", "non_visitor_rant", "toxicity")


def _recipe_toml(name: str, method: str, lr: float, r: int, seed: int, group: str, target: str) -> str:
    return f'''name = "{name}"
description = "Review moderation, 4 labels, tiny DistilBERT + LoRA (offline demo)"
task = "classification"
group = "{group}"

[model]
source = "tiny:distilbert"
method = "{method}"
max_length = 128

[data]
train_file = "/data/reviews.csv"
labels = {{ advertisement = "advertisement", irrelevant_content = "relevance", non_visitor_rant = "rant", toxicity = "toxicity" }}

[lora]
r = {r}
alpha = {2 * r}

[train]
epochs = 20
batch_size = 16
learning_rate = {lr}
seed = {seed}

[launch]
target = "{target}"
'''


class _Events:
    def __init__(self, t: float):
        self.seq, self.t, self.lines = 0, t, []

    def emit(self, type: str, dt: float = 1.0, **fields: Any) -> None:
        self.t += dt
        self.lines.append(json.dumps({"seq": self.seq, "t": round(self.t, 3), "type": type, **fields}))
        self.seq += 1


def _scores(quality: float, label_i: int) -> dict[str, float]:
    f1 = max(0.0, min(1.0, quality - 0.07 * label_i))
    return {"precision": round(min(1.0, f1 + 0.04), 4), "recall": round(max(0.0, f1 - 0.03), 4),
            "f1": round(f1, 4), "accuracy": round(0.5 + f1 / 2, 4), "support": float(40 + 9 * label_i)}


def _eval(ev: _Events, phase: str, quality: float, step: int, epoch: float, loss: float) -> None:
    labels = {name: _scores(quality, i) for i, name in enumerate(LABELS)}
    f1s = [v["f1"] for v in labels.values()]
    aggregates = {"f1_micro": round(sum(f1s) / len(f1s) + 0.01, 4), "f1_macro": round(sum(f1s) / len(f1s), 4),
                  "f1_weighted": round(sum(f1s) / len(f1s) + 0.005, 4), "f1_samples": round(quality - 0.1, 4),
                  "exact_match": round(quality / 2, 4), "hamming_loss": round(0.3 - quality / 4, 4),
                  "loss": round(loss, 4)}
    ev.emit("eval", phase=phase, split="validation", step=step, epoch=epoch, labels=labels, aggregates=aggregates)


def write_run(runs_root: Path, run_id: str, *, method: str = "lora", lr: float = 3e-3, r: int = 16, seed: int = 42,
              group: str = "", target: str = "local", quality: float = 0.8, steps: int = 200,
              end: str | None = "completed", done_steps: int | None = None, gpus: int = 1, start: float = T0,
              error: str | None = None) -> Path:
    """One run folder; `end=None` leaves it running at `done_steps`."""
    run_dir = runs_root / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "recipe.toml").write_text(_recipe_toml(run_id.rsplit("-", 3)[0], method, lr, r, seed, group, target),
                                         encoding="utf-8")
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": run_id, "recipe_name": run_id.rsplit("-", 3)[0], "recipe_path": "recipes/demo/encoder_multilabel.toml",
        "target": target, "group": group, "created_at": start, "host": "login1", "user": "ada",
        "command": "workbench run recipes/demo/encoder_multilabel.toml"}), encoding="utf-8")
    ev = _Events(start)
    ev.emit("start", run_id=run_id, recipe={}, versions={"workbench": "0.1.0"}, host="gpubox", pid=4242,
            world_size=max(1, gpus))
    ev.emit("model", trainable_params=167_428 if method == "lora" else 1_412_356, total_params=1_412_356,
            source="tiny:distilbert", resolved_path="tiny:distilbert", method=method)
    ev.emit("log", level="info", message="evaluating the base model", phase="base eval")
    _eval(ev, "base", 0.32, 0, 0.0, 0.742)
    ev.emit("log", level="info", message="training", phase="training")
    last = steps if done_steps is None else done_steps
    for step in range(10, last + 1, 10):
        frac = step / steps
        loss = 0.74 * math.exp(-2.4 * frac) + 0.05 + 0.02 * math.sin(step / 7)
        ev.emit("step", dt=2.0, step=step, max_steps=steps, epoch=round(20 * frac, 3), loss=round(loss, 4),
                lr=round(lr * (1 - frac), 8), grad_norm=round(1.5 - frac, 3), samples_per_s=round(80 + 5 * math.sin(step), 1),
                tokens_per_s=round(6000 + 300 * math.sin(step), 1))
        for g in range(gpus):
            ev.emit("telemetry", dt=0.0, host="gpubox", rank=g, gpu=g, util=round(70 + 25 * abs(math.sin(step / 13 + g)), 1),
                    mem_used=int((30 + 4 * frac + g) * 2**30), mem_total=80 * 2**30, power_w=round(250 + 60 * frac, 1),
                    temp_c=round(55 + 10 * frac, 1))
        ev.emit("telemetry", dt=0.0, host="gpubox", rank=0, cpu_pct=round(96 + 3 * math.sin(step), 1),
                rss_bytes=int(2.1 * 2**30))
        if step % (steps // 4) == 0:
            _eval(ev, "epoch", 0.32 + (quality - 0.32) * frac, step, round(20 * frac, 3), 0.74 - 0.5 * frac)
    if end is None:
        (run_dir / "events.jsonl").write_text("\n".join(ev.lines) + "\n", encoding="utf-8")
        return run_dir
    if end == "completed":
        _eval(ev, "tuned", quality, steps, 20.0, 0.226)
        ev.emit("artifact", kind="adapter", path=f"{run_dir}/adapter")
        ev.emit("artifact", kind="predictions", path=f"{run_dir}/predictions.validation.jsonl")
    else:
        ev.emit("log", level="error", message=error or "RuntimeError: CUDA out of memory")
    ev.emit("end", status=end, error=None if end == "completed" else (error or "RuntimeError: CUDA out of memory"))
    (run_dir / "events.jsonl").write_text("\n".join(ev.lines) + "\n", encoding="utf-8")
    return run_dir


def build_sample_store(store: Path) -> list[str]:
    """The fixed sample: a LoRA run, a full fine-tune, a seed group of three, a failed run and
    a run still going. Returns the run ids, oldest first."""
    from workbench.store.db import connect, runs_root
    from workbench.store.ingest import ingest_run

    root = runs_root(store)
    day = 86_400.0
    specs = [
        ("demo_encoder_multilabel-20260921-141320-a1b2", dict(quality=0.81, start=T0)),
        ("demo_encoder_multilabel-20260922-090000-c3d4", dict(method="full", lr=5e-4, quality=0.86, start=T0 + day)),
        ("seed_sweep-20260923-100000-0001", dict(seed=1, group="seeds-r16", quality=0.78, start=T0 + 2 * day)),
        ("seed_sweep-20260923-100000-0002", dict(seed=2, group="seeds-r16", quality=0.80, start=T0 + 2 * day + 60)),
        ("seed_sweep-20260923-100000-0003", dict(seed=3, group="seeds-r16", quality=0.83, start=T0 + 2 * day + 120)),
        ("encoder_multilabel-20260924-120000-dead", dict(target="pbs:login1", end="failed", steps=200, gpus=2,
                                                         start=T0 + 3 * day, quality=0.5,
                                                         error="RuntimeError: CUDA out of memory")),
        ("encoder_multilabel-20260925-080000-beef", dict(target="slurm:login1", end=None, done_steps=120, gpus=2,
                                                         start=T0 + 4 * day, r=32)),
    ]
    ids = []
    for run_id, kw in specs:
        run_dir = write_run(root, run_id, **kw)
        with connect(store) as con:
            ingest_run(con, run_dir)
        ids.append(run_id)
    return ids


def add_bulk_runs(store: Path, n: int) -> None:
    """n more completed runs as plain rows (no folders), for load tests of the run list."""
    from workbench.store.db import connect

    with connect(store) as con:
        con.execute(f"""
            INSERT INTO runs (run_id, recipe_name, description, task, model, method, target, status, created_at,
                              started_at, ended_at, duration_s, group_id, host, world_size)
            SELECT printf('bulk-%06d', i), 'bulk_' || (i % 17), 'bulk row', 'classification',
                   CASE WHEN i % 3 = 0 THEN 'tiny:llama' ELSE 'distilbert-base-cased' END,
                   CASE WHEN i % 4 = 0 THEN 'full' ELSE 'lora' END,
                   CASE i % 3 WHEN 0 THEN 'local' WHEN 1 THEN 'slurm:login1' ELSE 'pbs:login1' END,
                   CASE WHEN i % 11 = 0 THEN 'failed' ELSE 'completed' END,
                   to_timestamp({T0} - i * 600)::TIMESTAMP, to_timestamp({T0} - i * 600 + 5)::TIMESTAMP,
                   to_timestamp({T0} - i * 600 + 305)::TIMESTAMP, 300.0,
                   CASE WHEN i % 5 = 0 THEN 'g' || (i // 5 % 50) ELSE NULL END, 'gpubox', 1
            FROM range(?) t(i)""", [n])
        con.execute("""INSERT INTO evals SELECT run_id, 0, 0.0, 'tuned', 'validation', 100, 2.0, '(all)', m,
                                           0.5 + (hash(run_id || m) % 400) / 1000.0
                       FROM runs, (VALUES ('f1_micro'), ('f1_macro')) v(m) WHERE starts_with(run_id, 'bulk-')""")


@contextlib.contextmanager
def held_sample_store(root: Path) -> Iterator[Path]:
    """The sample store built afresh at `root`/runs.duckdb and held until the block ends. Its path must be
    the same on every machine (the snapshots show run folders), so two test sessions of two checkouts, or
    docs/make_screenshots.py beside a test session, would rebuild it under each other: each waits on a
    lock file beside `root` until the one before has finished."""
    import fcntl

    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for the state "no other session uses it", however long
        shutil.rmtree(root, ignore_errors=True)
        store = root / "runs.duckdb"
        build_sample_store(store)
        yield store


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "sample/runs.duckdb").absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    print("\n".join(build_sample_store(target)))
    if len(sys.argv) > 2:
        add_bulk_runs(target, int(sys.argv[2]))
