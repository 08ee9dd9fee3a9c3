"""`workbench run RECIPE`: pre-flight, create the run folder, start the trainer, follow it
live (rich progress: step, loss, ETA), then print base vs tuned per label."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from workbench.commands.common import store_of
from workbench.commands.validate import preflight
from workbench.console import console, diff_tables, fmt, status_text
from workbench.launch import follow as follower
from workbench.launch import local
from workbench.launch.runs import create_run
from workbench.store.db import connect, runs_root
from workbench.store.ingest import IngestResult, register_run


class LiveProgress:
    """Turns newly ingested events into a progress bar and a few log lines."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description:<10.10}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, disable=quiet)
        self.task = self.progress.add_task("loading", total=None, info="")
        self.loss = self.lr = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def on_events(self, res: IngestResult) -> None:
        for w in res.warnings:
            self.progress.console.print(f"[yellow]warning:[/] {w}")
        for e in res.events:
            kind = e.get("type")
            if kind == "log":
                msg = e.get("message", "")
                if e.get("level") == "error":
                    self.progress.console.print(f"[red]error:[/] {msg.strip().splitlines()[-1] if msg else ''}")
                elif e.get("phase"):
                    self.progress.update(self.task, description=e["phase"])
                elif not self.quiet:
                    self.progress.console.print(f"[dim]{msg}[/]")
            elif kind == "model" and not self.quiet:
                self.progress.console.print(
                    f"[dim]model: {e.get('source')} ({e.get('method')}), trainable {e.get('trainable_params'):,} of "
                    f"{e.get('total_params'):,} parameters[/]")
            elif kind == "step":
                self.loss, self.lr = e.get("loss"), e.get("lr")
                info = f"loss {fmt(self.loss, 4)}  lr {self.lr:.2e}" if self.lr is not None else f"loss {fmt(self.loss, 4)}"
                if e.get("samples_per_s"):
                    info += f"  {e['samples_per_s']:.0f} samples/s"
                self.progress.update(self.task, total=e.get("max_steps"), completed=e.get("step"), info=info,
                                     description="training")
            elif kind == "eval" and not self.quiet:
                agg = e.get("aggregates", {})
                self.progress.console.print(
                    f"[dim]eval {e.get('phase')} ({e.get('split')}, epoch {fmt(e.get('epoch'), 2)}): "
                    f"loss {fmt(agg.get('loss'), 4)}  f1_micro {fmt(agg.get('f1_micro'))}  "
                    f"f1_macro {fmt(agg.get('f1_macro'))}[/]")


def main(args) -> int:
    recipe, _splits = preflight(args.recipe, args.overrides)  # bad input stops here, before any model loads
    store = store_of(args)
    if args.dry_run:
        print(f"recipe {recipe.name} is valid; would run:")
        print("  " + shlex.join(local.train_command(runs_root(store) / "<run_id>")))
        return 0
    cmdline = shlex.join(["workbench", "run", args.recipe, *sum((["--set", o] for o in args.overrides), [])])
    run_dir = create_run(recipe, runs_root(store), command=cmdline)
    with connect(store) as con:
        register_run(con, run_dir)
    proc = local.start(run_dir)
    run_id = run_dir.name
    console.print(f"run [bold]{run_id}[/] started (pid {proc.pid}); folder {run_dir}")
    if args.detach:
        console.print(f"detached: `workbench sync` ingests its progress; `workbench show {run_id}` shows it")
        return 0

    with LiveProgress(args.quiet) as live:
        status = follower.follow(store, run_dir, proc=proc, on_events=live.on_events)

    console.print(f"run [bold]{run_id}[/] ", status_text(status))
    print_result(store, run_id)
    if status != "completed":
        log = Path(run_dir) / "train.log"
        console.print(f"[dim]trainer output: {log}[/]")
    return {"completed": 0, "interrupted": 130}.get(status, 1)


def print_result(store: Path, run_id: str) -> None:
    with connect(store, read_only=True) as con:
        err = con.execute("SELECT error FROM runs WHERE run_id = ?", [run_id]).fetchone()
        rows = con.execute(
            "SELECT label, metric, base, tuned, delta FROM base_vs_tuned WHERE run_id = ? AND split = 'validation' "
            "ORDER BY label, metric", [run_id]).fetchall()
    if err and err[0]:
        console.print(f"[red]{err[0]}[/]", soft_wrap=True)
    if rows:
        for t in diff_tables(rows, ("precision", "recall", "f1"), f"base vs tuned — {run_id} (validation)"):
            console.print(t)
    sys.stdout.flush()
