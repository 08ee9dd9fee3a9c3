"""Following a run on the console, for `workbench run`, `eval`, `attach` and `resume`: the live progress
bar with telemetry and log lines (LiveProgress), then the run's final status and result. The work is
workbench.actions.jobs's (follow, run_result); this module renders it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from workbench import rundir
from workbench.actions import jobs
from workbench.actions.launch import Started
from workbench.console import console, diff_tables, evaluation_table, status_text, targets_table, telemetry_values
from workbench.events import Eval, Log, Model, Step, Telemetry
from workbench.launch.follow import Feed
from workbench.wording import fmt


class _ProgressWithTelemetry(Progress):
    """The progress bar with the latest telemetry lines under it (one per GPU, one per host rank)."""

    def __init__(self, *columns: Any, **kwargs: Any) -> None:
        # Before Progress.__init__, which may render (get_renderables) already.
        self.telemetry: dict[tuple, str] = {}  # (host, rank, is_host, gpu) -> its line; one dict per bar
        super().__init__(*columns, **kwargs)

    def get_renderables(self):
        yield from super().get_renderables()
        if self.telemetry:
            from rich.text import Text

            yield Text("\n".join(self.telemetry[k] for k in sorted(self.telemetry, key=str)), style="cyan")


def telemetry_line(e: Any) -> str:  # a Telemetry event, or its fields as a dict
    """`gpu0@box r0  97%  31.2/80.0 GiB  245 W  61°C` or `host box r0  cpu 34%  rss 2.10 GiB`."""
    where = f"{e.get('host')} r{e.get('rank')}"
    if e.get("gpu") is not None:
        return f"gpu{e['gpu']}@{where}  {telemetry_values(e)}"
    return f"host {where}  {telemetry_values(e)}"


class LiveProgress:
    """Turns the events a follower reads into a progress bar, telemetry lines and a few log lines."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.progress = _ProgressWithTelemetry(
            TextColumn("[bold]{task.description:<10.10}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, disable=quiet)
        self.task = self.progress.add_task("loading", total=None, info="")
        self.loss: float | None = None
        self.lr: float | None = None

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_events(self, feed: Feed) -> None:
        for w in feed.warnings:  # one line each: they name files (a path to copy)
            self.progress.console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
        for e in feed.events:
            if isinstance(e, Log):
                if e.level == "error":
                    self.progress.console.print(f"[red]error:[/] {e.message.strip().splitlines()[-1] if e.message else ''}")
                elif e.phase:
                    self.progress.update(self.task, description=e.phase)
                elif not self.quiet:
                    self.progress.console.print(f"[dim]{e.message}[/]")
            elif isinstance(e, Model) and not self.quiet:
                self.progress.console.print(
                    f"[dim]model: {e.source} ({e.method}), trainable {_thousands(e.trainable_params)} of "
                    f"{_thousands(e.total_params)} parameters[/]")
            elif isinstance(e, Telemetry):
                self.progress.telemetry[(e.host, e.rank, e.gpu is None, e.gpu)] = telemetry_line(e)
            elif isinstance(e, Step):
                self.loss, self.lr = e.loss, e.lr
                info = f"loss {fmt(self.loss, 4)}  lr {self.lr:.2e}" if self.lr is not None else f"loss {fmt(self.loss, 4)}"
                if e.samples_per_s:
                    info += f"  {e.samples_per_s:.0f} samples/s"
                self.progress.update(self.task, total=e.max_steps, completed=e.step, info=info, description="training")
            elif isinstance(e, Eval) and not self.quiet:
                agg = e.aggregates or {}
                # the tuned model's weights may come from an earlier epoch (the best checkpoint, reloaded)
                when = (f"the weights of epoch {e.epoch:g}, step {e.step}" if e.phase == "tuned" and e.epoch is not None
                        else "no model: the training labels' frequencies" if e.phase == "prior"
                        else f"epoch {fmt(e.epoch, 2)}")
                self.progress.console.print(
                    f"[dim]eval {e.phase} ({e.split}, {when}): "
                    f"loss {fmt(agg.get('loss'), 4)}  f1_micro {fmt(agg.get('f1_micro'))}  "
                    f"f1_macro {fmt(agg.get('f1_macro'))}[/]")


def _thousands(n: int | None) -> str:
    return f"{n:,}" if isinstance(n, int) else "—"


def say_step(quiet: bool):
    """The on_step callback of a launch: each step dimmed (`uploading the recipe…`), none when quiet."""
    return None if quiet else (lambda m: console.print(f"[dim]{m}…[/]"))


def report_started_and_follow(store: Path, run: Started, *, detach: bool, quiet: bool) -> int:
    """`run X started (target, where); folder`, then follow it (unless detach); the exit status."""
    where = f"job {run.job_id}" if run.job_id else f"pid {run.pid}"
    host = f" on {run.host}" if run.host else ""
    console.print(f"run [bold]{run.run_id}[/] started ({run.target}, {where}{host}); folder {run.run_dir}")
    if detach:
        console.print(f"detached: `workbench attach {run.run_id}` follows it; `workbench stop {run.run_id}` stops it")
        return 0
    if not run.local and not quiet:
        console.print(f"[dim]Ctrl-C stops following; the run goes on (`workbench attach {run.run_id}`, "
                      f"`workbench stop {run.run_id}`)[/]")
    return follow_and_report(store, run.run_dir, quiet=quiet, ctrl_c="stop" if run.local else "detach")


def follow_and_report(store: Path, run_dir: Path, *, quiet: bool, ctrl_c: str) -> int:
    """Follow a run live to its end and print its result: exit status 0 completed, pruned (a tune trial its
    pruner stopped: the study's own decision, not a failure) or detached, 130 interrupted, else 1."""
    run_id = run_dir.name
    with LiveProgress(quiet) as live:
        status = jobs.follow(store, run_dir, on_events=live.on_events, ctrl_c=ctrl_c,
                             on_disconnect=lambda m: live.progress.console.print(f"[yellow]connection lost:[/] {m}"))
    if status == "detached":
        console.print(f"stopped following {run_id}; it goes on: `workbench attach {run_id}` / `workbench stop {run_id}`")
        return 0
    console.print(f"run [bold]{run_id}[/] ", status_text(status))
    print_result(store, run_id)
    if status != "completed":
        console.print(f"[dim]trainer output: {run_dir / rundir.TRAIN_LOG}[/]")
    return {"completed": 0, "pruned": 0, "interrupted": 130}.get(status, 1)  # pruned: its study stopped it, as meant


def print_result(store: Path, run_id: str) -> None:
    """An ended run's error, base vs tuned per label (or the one model's metrics), and warnings."""
    result = jobs.run_result(store, run_id)
    if result.error:
        console.print(f"[red]{result.error}[/]", soft_wrap=True)
    if result.base_vs_tuned:
        for t in diff_tables(result.base_vs_tuned, ("precision", "recall", "f1"), f"base vs tuned — {run_id} (validation)",
                             prior=result.prior):
            console.print(t)
    elif result.evaluation:
        console.print(evaluation_table(result.evaluation, f"{run_id} (validation)"))
    if result.targets:  # a finding, not a failure: the exit status stays the run's
        console.print(targets_table(result.targets))
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    sys.stdout.flush()
