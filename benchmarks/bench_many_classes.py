"""A run of 10,000 classes: the follower's and `sync`'s peak RSS (issue 25, item 2).

    python benchmarks/bench_many_classes.py [--quick | --smoke]     # --quick: 200 validation rows, 2 steps
                                                                    # --smoke: 300 classes, 30 rows, 1 step

A single-label data set of 10,000 classes (tools/synthetic/many_classes.py: every class once in
the training split, 500 validation rows) trains a tiny DistilBERT + LoRA a few steps through
`workbench run`, and again detached and followed by `workbench attach` (the follower alone,
without run's checks before the launch); the store is then deleted and rebuilt by `workbench
sync`. Each command runs in a fresh process that reports its own peak RSS (getrusage(RUSAGE_SELF):
the CLI, not the trainer it starts, whose own peak the run records as peak_mem_bytes). Before the fix (issue 25)
the base evaluation's confusion matrix was one 1.49 GB event line and the follower grew past
16 GB until the machine killed it; `sync` died with MemoryError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, by_size, main, row

NAME = "many classes"
CLASSES = 10_000
BOUND = 1 << 30  # 1 GiB: the "done when"

# The CLI in this process, then its peak RSS into the file named by $PEAK_OUT (its stdout stays the CLI's).
MEASURED = """
import json, os, resource, sys, time
from workbench.cli import main
t0 = time.perf_counter()
try:
    rc = main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
with open(os.environ["PEAK_OUT"], "w") as f:
    json.dump({"rc": rc, "seconds": time.perf_counter() - t0,
               "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, f)
"""



def measured(args: list[str], tmp: Path, env: dict[str, str], what: str) -> dict:
    out = tmp / "peak.json"
    out.unlink(missing_ok=True)
    p = subprocess.run([sys.executable, "-c", MEASURED, *args], env={**env, "PEAK_OUT": str(out)},
                       capture_output=True, text=True, cwd=tmp, check=False, timeout=3600)
    if p.returncode != 0 or not out.exists():
        raise RuntimeError(f"{what} exited {p.returncode}: {(p.stderr.strip().splitlines() or [''])[-1]}")
    got = json.loads(out.read_text())
    if got["rc"] not in (0, None):
        raise RuntimeError(f"{what} exited {got['rc']}: {(p.stdout.strip().splitlines() or [''])[-1]}")
    return got


def run(size: str = "full") -> list[dict]:
    from tools.synthetic.many_classes import recipe_text, write_splits

    classes = by_size(size, CLASSES, CLASSES, 300)
    validation, steps = by_size(size, (500, 5), (200, 2), (30, 1))
    # the old run folder's line: over the 64 MiB limit at 10,000 and 3,000 classes; the smoke's 300 classes
    # (a 1 MB line) meet a limit lowered to 200 kB, read where `sync` reads the folder
    dense, limit = by_size(size, (CLASSES, None), (3000, None), (classes, "200000"))
    with tempfile.TemporaryDirectory(prefix="wb-bench-classes-") as name:
        tmp = Path(name)
        train_csv, validation_csv = write_splits(tmp / "data", classes=classes, validation=validation)
        recipe = tmp / "many.toml"
        recipe.write_text(recipe_text(train_csv, validation_csv, name="many_classes", vocab_size=2000, batch_size=32, steps=steps,
                                      tail="logging_steps = 1\n[eval]\nbatch_size = 100\n"), encoding="utf-8")
        store = tmp / "runs.duckdb"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "WORKBENCH_STORE": str(store),
               "WORKBENCH_CACHE": str(tmp / "cache")}
        follower = measured(["run", str(recipe), "--quiet"], tmp, env, "workbench run")
        (run_dir,) = [p.parent for p in (tmp / "runs").glob("*/run.json")]
        # The follower alone: a second run started detached, then followed from its start by `attach`
        measured(["run", str(recipe), "--detach"], tmp, env, "workbench run --detach")
        (second,) = [p.parent.name for p in (tmp / "runs").glob("*/run.json") if p.parent != run_dir]
        attach = measured(["attach", second], tmp, env, "workbench attach")
        events = (run_dir / "events.jsonl").read_bytes()
        longest = max(len(line) for line in events.splitlines())
        predictions = (run_dir / "predictions_tuned_validation.jsonl").stat().st_size
        status, peak_trainer = _run_row(store, run_dir.name)
        store.unlink()
        t0 = time.perf_counter()
        sync = measured(["sync"], tmp, env, "workbench sync")
        sync_s = time.perf_counter() - t0
        rebuilt, _ = _run_row(store, second)
        show = measured(["show", "last"], tmp, {**env, "COLUMNS": "120"}, "workbench show")
        # The same run as the code before wrote it: its base evaluation's whole matrix, one line
        old_id = run_dir.name[:-4] + ("0000" if not run_dir.name.endswith("0000") else "0001")  # a valid run id
        line = _write_old_run(run_dir, run_dir.parent / old_id, dense)
        store.unlink()
        old = measured(["sync"], tmp, {**env, "WORKBENCH_EVENT_LINE_LIMIT": limit} if limit else env,
                       "workbench sync of the old run folder")
        errors = _errors(store, old_id)
    if status != "completed" or rebuilt != "completed":
        raise RuntimeError(f"the run ended {status}, {rebuilt} after sync")
    if len(errors) != 1 or "limit of one event line" not in errors[0]:
        raise RuntimeError(f"the old run's line over the limit was not reported as one error: {errors}")
    what = f"{classes:,} classes, {validation} validation rows, {steps} steps (tiny DistilBERT + LoRA)"
    return [
        row(NAME, f"{what}: `workbench run`, peak RSS (its checks before the launch, which import torch and build "
                  "the model on the meta device, then the follower ingesting every event)",
            f"{follower['rss'] / 2**20:.0f} MiB", "< 1 GiB", follower["rss"] < BOUND),
        row(NAME, "the follower alone: `workbench attach` following a second such run from its start, peak RSS",
            f"{attach['rss'] / 2**20:.0f} MiB", "< 1 GiB", attach["rss"] < BOUND),
        row(NAME, f"`workbench sync` rebuilding the store of the two runs, peak RSS ({sync_s:.1f} s)",
            f"{sync['rss'] / 2**20:.0f} MiB", "< 1 GiB", sync["rss"] < BOUND),
        row(NAME, "the trainer's peak RSS (runs.peak_mem_bytes), for comparison",
            f"{(peak_trainer or 0) / 2**20:.0f} MiB"),
        row(NAME, "events.jsonl: size, longest line (the base evaluation's confusion matrix was one 1.49 GB line)",
            f"{len(events) / 2**20:.1f} MiB, {longest / 2**10:.0f} KiB"),
        row(NAME, "predictions_tuned_validation.jsonl (top 10 scores a row past 1,000 classes; every score: "
                  "~115 MB for 500 rows)", f"{predictions / 2**10:.0f} KiB"),
        row(NAME, f"the run folder as the code before wrote it (its base evaluation a {line / 2**30:.2f} GiB line: "
                  f"{dense:,} x {dense:,} cells): `workbench sync`, peak RSS; the line skipped with one error naming "
                  "file and line, every other event stored", f"{old['rss'] / 2**20:.0f} MiB", "< 1 GiB",
            old["rss"] < BOUND),
        row(NAME, f"`workbench show` of the run (per-class table of {classes:,} rows, the 20 largest errors), "
                  "peak RSS and time", f"{show['rss'] / 2**20:.0f} MiB, {show['seconds']:.1f} s"),
    ]


def _write_old_run(run_dir: Path, dest: Path, classes: int) -> int:
    """A copy of `run_dir` whose base evaluation holds the whole confusion matrix of `classes`
    classes (zeros included), as events.jsonl held it before sparse matrices; returns that line's bytes."""
    import shutil

    shutil.copytree(run_dir, dest)
    meta = json.loads((dest / "run.json").read_text())
    (dest / "run.json").write_text(json.dumps({**meta, "run_id": dest.name}))
    names = [f"c{i:05d}" for i in range(classes)]
    zeros = ",".join(f'"{n}":0' for n in names).encode()  # a row of the matrix (the counts do not matter here)
    size = 0
    with open(run_dir / "events.jsonl", "rb") as src, open(dest / "events.jsonl", "wb") as out:
        for raw in src:
            event = json.loads(raw)
            if event["type"] != "eval" or event["phase"] != "base":
                out.write(raw)
                continue
            event.pop("confusion", None)
            start = out.tell()
            out.write(json.dumps(event, separators=(",", ":"))[:-1].encode() + b',"confusion":{')
            for i, n in enumerate(names):
                out.write(b'%s"%s":{%s}' % (b"," if i else b"", n.encode(), zeros))
            out.write(b"}}\n")
            size = out.tell() - start
    return size


def _errors(store: Path, run_id: str) -> list[str]:
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        return [m for (m,) in con.execute("SELECT message FROM logs WHERE run_id = ? AND level = 'error'",
                                          [run_id]).fetchall()]
    finally:
        con.close()


def _run_row(store: Path, run_id: str) -> tuple[str, int | None]:
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute("SELECT status, peak_mem_bytes FROM runs WHERE run_id = ?", [run_id]).fetchone()
    finally:
        con.close()


if __name__ == "__main__":
    main(run)
