"""Key-press latency of the TUI with a full run list.

Builds the sample store plus 10,000 bulk runs in a temporary folder, opens the app headless
(App.run_test) and switches to the Runs mode with its key ("2"), waits until the run table is
loaded, then times ~50 presses of "down" (from pilot.press to its completion: the key handled
and the app idle again). Twice: with the store quiet, and with a live event stream — a thread
appending step and telemetry events to a run folder that the app follows (app.follow_run), so
the follower ingests into the store and the run list re-reads it while keys are pressed.

    python benchmarks/bench_tui_latency.py [--quick | --smoke] [--runs N] [--presses N] [--events-per-s 200]

Rows: the load time and p50 / p95 / max latency in ms for each phase (--quick: 2,000 runs and 20
presses; --smoke: 50 runs, 3 presses, short pauses). Only the app's public behaviour is used: the
mode key, a DataTable on screen, follow_run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_size_arguments, by_size, machine, print_rows, row, size_flag  # noqa: E402

NAME = "app latency"

LIVE_ID = "bench_live-20260926-000000-beef"  # a valid run id (4 hex digits at the end)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def p50_p95(ms: list[float]) -> str:
    return f"p50 {percentile(ms, 0.5):.0f} / p95 {percentile(ms, 0.95):.0f} ms"


def spread(ms: list[float]) -> str:
    return f"{len(ms)} presses, max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms"


def build(folder: Path, n: int) -> tuple[Path, Path]:
    """The sample store + n bulk runs, and a run folder left 'running' for the live phase."""
    from tools.sample_store import add_bulk_runs, build_sample_store, write_run
    from workbench.store.db import connect, runs_root
    from workbench.store.ingest import ingest_run

    store = folder / "runs.duckdb"
    build_sample_store(store)
    add_bulk_runs(store, n)
    # A local run still going; created just now, so with no job record yet it reads as being
    # submitted (not gone) and its follower keeps polling while events arrive.
    run_dir = write_run(runs_root(store), LIVE_ID, end=None, done_steps=10, steps=100_000, start=time.time())
    with connect(store) as con:
        ingest_run(con, run_dir)
        # The sample's running run sits on a cluster (slurm:login1) that does not exist here:
        # following it would try ssh. Mark it ended in this throwaway copy.
        con.execute("UPDATE runs SET status = 'interrupted' WHERE status IN ('running', 'queued') AND run_id <> ?",
                    [LIVE_ID])
    return store, run_dir


class EventWriter(threading.Thread):
    """Appends step + telemetry events to events.jsonl at a steady rate, as a training run does."""

    def __init__(self, run_dir: Path, events_per_s: float, gpus: int = 2) -> None:
        super().__init__(daemon=True)
        self.path = run_dir / "events.jsonl"
        self.per_batch = 1 + gpus + 1  # a step, one sample per GPU, one host sample
        self.interval = self.per_batch / events_per_s
        self.gpus = gpus
        self.stop = threading.Event()
        self.written = 0
        lines = self.path.read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1])
        self.seq, self.step = last["seq"] + 1, 10
        self.t0 = time.time()

    def run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            while not self.stop.is_set():
                self.step += 1
                t = round(time.time(), 3)
                batch = [{"type": "step", "step": self.step, "max_steps": 100_000, "epoch": self.step / 5000,
                          "loss": round(0.7 * math.exp(-self.step / 3000) + 0.05, 4), "lr": 3e-4,
                          "grad_norm": 1.0, "samples_per_s": 80.0, "tokens_per_s": 6000.0}]
                for g in range(self.gpus):
                    batch.append({"type": "telemetry", "host": "gpubox", "rank": g, "gpu": g,
                                  "util": float(50 + (self.step + 17 * g) % 50), "mem_used": (30 + g) * 2**30,
                                  "mem_total": 80 * 2**30, "power_w": 250.0, "temp_c": 60.0})
                batch.append({"type": "telemetry", "host": "gpubox", "rank": 0, "cpu_pct": 97.0,
                              "rss_bytes": 2 * 2**30})
                for e in batch:
                    f.write(json.dumps({"seq": self.seq, "t": t, **e}) + "\n")
                    self.seq += 1
                f.flush()
                self.written += len(batch)
                self.stop.wait(self.interval)


async def wait_for_table(pilot, expected: int, timeout: float = 180.0):
    """The DataTable on screen once it holds `expected` rows (or stopped growing), and the wait."""
    from textual.widgets import DataTable

    t0 = time.perf_counter()
    last, still_since = -1, time.perf_counter()
    while True:
        tables = list(pilot.app.screen.query(DataTable))
        rows = max((t.row_count for t in tables), default=0)
        now = time.perf_counter()
        if rows != last:
            last, still_since = rows, now
        if rows >= expected or (rows > 0 and now - still_since > 2.0):
            table = max(tables, key=lambda t: t.row_count)
            return table, now - t0 - (2.0 if rows < expected else 0.0)
        if now - t0 > timeout:
            raise RuntimeError(f"the run table did not load in {timeout:.0f} s ({rows} rows, {len(tables)} tables)")
        await asyncio.sleep(0.01)


async def press_many(pilot, table, presses: int, gap_s: float) -> list[float]:
    """ms per press of "down"; the gap lets timers and follower messages interleave with keys."""
    table.focus()
    await pilot.pause()
    out = []
    start_row = table.cursor_row
    for _ in range(presses):
        t0 = time.perf_counter()
        await pilot.press("down")
        out.append((time.perf_counter() - t0) * 1000)
        if gap_s:
            await asyncio.sleep(gap_s)
    moved = table.cursor_row - start_row
    if moved < presses * 0.9:
        print(f"  warning: the cursor moved {moved} rows for {presses} presses (focus elsewhere?)")
    return out


async def bench(store: Path, run_dir: Path, args) -> dict:
    """The figures of one pass: load seconds, ms per press quiet and live, what the live phase did."""
    from workbench.store.db import connect
    from workbench.tui.app import WorkbenchApp

    with connect(store, read_only=True) as con:
        total = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    app = WorkbenchApp(store, follow=True)
    async with app.run_test(size=(args.width, args.height)) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        await pilot.press("2")
        table, waited = await wait_for_table(pilot, total)
        load = time.perf_counter() - t0
        screen = type(app.screen).__name__
        if table.row_count < min(total, 1000):
            print("  the Runs screen shows fewer than 1,000 rows: is it still a placeholder?")
        await pilot.pause(args.tick)  # one refresh tick of a quiet store
        quiet = await press_many(pilot, table, args.presses, args.gap)

        writer = EventWriter(run_dir, args.events_per_s)
        writer.start()
        app.follow_run(LIVE_ID, run_dir)
        await pilot.pause(args.tick)  # the follower ingesting, the list re-reading
        stepped = app.watches[LIVE_ID].step if LIVE_ID in app.watches else None
        live = await press_many(pilot, table, args.presses, args.gap)
        writer.stop.set()
        writer.join()
        await pilot.pause(args.tick / 2)
        watch = app.watches.get(LIVE_ID)
        with connect(store) as con:
            stored = con.execute("SELECT max(step) FROM steps WHERE run_id = ?", [LIVE_ID]).fetchone()[0]
        app.unfollow_run(LIVE_ID)
    return {"screen": screen, "rows": table.row_count, "total": total, "load_s": load,
            "quiet": quiet, "live": live, "written": writer.written, "writer_step": writer.step,
            "watch_before": stepped, "watch_after": watch.step if watch else None, "stored": stored}


def measure(args) -> list[dict]:
    os.environ.setdefault("WORKBENCH_RECIPES", str(ROOT / "recipes"))
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        t0 = time.perf_counter()
        store, run_dir = build(Path(tmp), args.runs)
        built = time.perf_counter() - t0
        got = asyncio.run(bench(store, run_dir, args))
    return [
        row(NAME, f"store: the sample store + {args.runs:,} bulk runs, built", f"{built:.1f} s"),
        row(NAME, f"load: pressing '2' until the {got['screen']} table holds {got['rows']:,} of {got['total']:,} runs",
            f"{got['load_s'] * 1000:.0f} ms"),
        row(NAME, f"key press 'down' (handled and idle again), quiet store ({spread(got['quiet'])})",
            p50_p95(got["quiet"])),
        row(NAME, f"key press 'down' while a live run streams {args.events_per_s:.0f} events/s ({spread(got['live'])}; "
                  f"{got['written']:,} events written; the app's watch at step {got['watch_after']}, was "
                  f"{got['watch_before']}, writer at {got['writer_step']}; steps in the store up to {got['stored']})",
            p50_p95(got["live"])),
    ]


def arguments(size: str) -> argparse.Namespace:
    """The settings of a size; the command line may change each."""
    runs, presses, tick = by_size(size, (10_000, 50, 3.0), (2_000, 20, 3.0), (50, 3, 0.5))
    return argparse.Namespace(size=size, runs=runs, presses=presses, gap=0.05, events_per_s=200.0, width=120,
                              height=40, tick=tick)


def run(size: str = "full") -> list[dict]:
    return measure(arguments(size))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_arguments(p)
    p.add_argument("--runs", type=int, help="bulk runs added to the sample store (default 10,000)")
    p.add_argument("--presses", type=int, help="presses per phase (default 50)")
    p.add_argument("--gap", type=float, help="seconds between presses (default 0.05)")
    p.add_argument("--events-per-s", type=float, help="the live run's event rate (default 200)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    given = p.parse_args()
    args = arguments(given.size)
    for key, value in vars(given).items():
        if value is not None:
            setattr(args, key, value)
    t0 = time.perf_counter()
    rows = measure(args)
    print_rows(rows, title=f"{Path(sys.argv[0]).name}{size_flag(args.size)}",
               caption=f"{machine()}\n{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
