"""`workbench run RECIPE`: pre-flight, create the run folder, start the trainer, follow it
live (rich progress: step, loss, ETA), then print base vs tuned per label."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from workbench import rundir
from workbench.commands.common import store_of
from workbench.commands.validate import preflight
from workbench.console import console, diff_tables, fmt, status_text, telemetry_values
from workbench.errors import UserError
from workbench.events import Eval, Log, Model, Step, Telemetry
from workbench.launch import follow as follower
from workbench.launch import launcher
from workbench.launch.follow import Feed
from workbench.rundir import read_run_meta
from workbench.store import read
from workbench.store.db import connect


class _ProgressWithTelemetry(Progress):
    """The progress bar with the latest telemetry lines under it (one per GPU, one per host rank)."""

    telemetry: dict[tuple, str] = {}

    def get_renderables(self):
        yield from super().get_renderables()
        if self.telemetry:
            from rich.text import Text

            yield Text("\n".join(self.telemetry[k] for k in sorted(self.telemetry, key=str)), style="cyan")


def telemetry_line(e: Telemetry) -> str:
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
        self.progress.telemetry = {}
        self.task = self.progress.add_task("loading", total=None, info="")
        self.loss = self.lr = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
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
                        else f"epoch {fmt(e.epoch, 2)}")
                self.progress.console.print(
                    f"[dim]eval {e.phase} ({e.split}, {when}): "
                    f"loss {fmt(agg.get('loss'), 4)}  f1_micro {fmt(agg.get('f1_micro'))}  "
                    f"f1_macro {fmt(agg.get('f1_macro'))}[/]")


def _thousands(n: int | None) -> str:
    return f"{n:,}" if isinstance(n, int) else "—"


def launch_overrides(args) -> list[str]:
    """`--gpus 4`, `--partition gpu`, ...: the [launch] knobs as flags, applied like --set."""
    from workbench.recipe.schema import knobs_in

    out = list(args.overrides)
    for knob in knobs_in("launch"):
        value = getattr(args, f"launch_{knob.key}", None)
        if value is not None:
            out.append(f"{knob.name}={value}")
    return out


def main(args) -> int:
    overrides = launch_overrides(args)
    if getattr(args, "name", None):
        overrides.append(f"name={args.name}")
    sweeps = list(getattr(args, "sweeps", []) or [])
    recipe, _splits = preflight(args.recipe, overrides, sweeps)  # bad input stops here, before any model loads
    store = store_of(args)
    variants = recipe.runs(parse_seeds(args.seeds) if args.seeds else None)
    parallel = getattr(args, "parallel", 1) or 1
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: expected 1 or more concurrent runs")
    if args.dry_run:
        print(f"# recipe {recipe.name} is valid; target {recipe.launch.target}; nothing was started")
        for line in plan_lines(recipe, overrides, sweeps, variants):
            print(f"# {line}")
        print(launcher.dry_run(recipe.single(variants[0]), store))
        return 0
    cmdline = shlex.join(["workbench", "run", args.recipe, *sum((["--set", o] for o in overrides), []),
                          *sum((["--sweep", o] for o in sweeps), [])])
    say = None if args.quiet else (lambda m: console.print(f"[dim]{m}…[/]"))
    if len(variants) > 1:
        return run_sweep(args, recipe, variants, store, cmdline, say, parallel)
    # one run: the recipe with that run's values (a one-value --sweep, one seed, a methods entry's knobs)
    run_dir = launcher.launch(recipe.single(variants[0]), store, command=cmdline, on_step=say)
    return report_started_and_follow(args, store, run_dir)


def plan_lines(recipe, overrides: list[str], sweeps: list[str], variants: list[dict]) -> list[str]:
    """What --dry-run says before the script: the values --set gave, and the runs the recipe starts."""
    lines = [f"--set {o.partition('=')[0].strip()} = {_shown(recipe[o.partition('=')[0].strip()])}" for o in overrides]
    if len(variants) == 1:
        return lines + ["1 run"]
    lines.append(f"{len(variants)} runs, one group: " + describe_sweep(recipe, variants))
    varying = [k for k in variants[0] if k not in ("seeds", "methods") and len({_shown(v.get(k)) for v in variants}) > 1]
    for i, v in enumerate(variants[:MAX_LISTED]):
        lines.append(f"  run {i + 1}: " + ", ".join(f"{k}={_shown(v.get(k))}" for k in varying))
    if len(variants) > MAX_LISTED:
        lines.append(f"  … and {len(variants) - MAX_LISTED} more")
    lines.append("the script below is the first run's; the others differ only in those values")
    return lines


MAX_LISTED = 12


def _shown(v) -> str:
    from workbench.store.rows import param_text

    return param_text(v)


def describe_sweep(recipe, variants: list[dict]) -> str:
    """`methods lora, full × grid 2 × 2 (train.learning_rate, lora.r) × seeds 1, 2`."""
    parts = []
    methods = list(dict.fromkeys(v["model.method"] for v in variants))
    seeds = list(dict.fromkeys(v["train.seed"] for v in variants))
    if len(methods) > 1:
        over = [f"{m}: " + ", ".join(f"{k}={_shown(x)}" for k, x in recipe.method_overrides[m].items())
                for m in methods if recipe.method_overrides.get(m)]
        parts.append(f"methods {', '.join(methods)}" + (f" ({'; '.join(over)})" if over else ""))
    if recipe.axes:
        knobs = ", ".join(recipe.axes)
        if recipe.sweep.mode == "grid":
            parts.append("grid " + " × ".join(str(len(a)) for a in recipe.axes.values()) + f" ({knobs})")
        else:
            parts.append(f"random {recipe.sweep.trials} trials ({knobs})")
    if len(seeds) > 1:
        parts.append(f"seeds {', '.join(map(str, seeds))}")
    return " × ".join(parts)


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        lo, dash, hi = part.partition("-")
        if not (lo.isdigit() and (not dash or hi.isdigit())):
            raise UserError(f"--seeds {text!r}: expected seeds like 1,2,3 or 0-4")
        seeds += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text!r}: expected distinct seeds like 1,2,3 or 0-4")
    return seeds


def sweep_runs(recipe, variants: list[dict]) -> tuple[str, str, list]:
    """(kind, group, one single-run recipe per variant): the recipe's `group`, else one named after
    the recipe, what varies and the time."""
    import time

    kind = "sweep" if recipe.axes else "methods" if len({v["model.method"] for v in variants}) > 1 else "seeds"
    group = recipe.view.group or f"{recipe.name}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    return kind, group, [recipe.single({**v, "group": group}) for v in variants]


def run_sweep(args, recipe, variants: list[dict], store: Path, cmdline: str, say, parallel: int = 1) -> int:
    """A sweep: one run per method × trial × seed, one group. SLURM gets one job array; PBS one job
    per run; local runs go one after another, or `--parallel K` at a time; ssh runs one after another
    (in parallel they would share one machine's GPUs)."""
    import os

    kind, group, recipes = sweep_runs(recipe, variants)
    target = recipe.launch.target
    if parallel > 1:
        if target.kind != "local":
            raise UserError(f"--parallel runs local runs side by side; {target} "
                            + ("runs a sweep as a job array" if target.scheduler else "runs them one after another"))
        if recipe.launch.gpus > 0:
            raise UserError(f"--parallel {parallel} with launch.gpus = {recipe.launch.gpus}: concurrent runs would "
                            "share the same GPUs; run them one after another (or on a cluster, as a job array)")
        cores = os.cpu_count() or 1
        if parallel * recipe.launch.processes > cores:
            raise UserError(f"--parallel {parallel}: {parallel} runs of {recipe.launch.processes} process(es) "
                            f"need {parallel * recipe.launch.processes} cores; this machine has {cores}")
    console.print(f"{kind} [bold]{group}[/]: {len(recipes)} runs ({describe_sweep(recipe, variants)}) on {target}"
                  + (f", {parallel} at a time" if parallel > 1 else ""))
    if target.scheduler:
        run_dirs = launcher.launch_many(recipes, store, command=cmdline, on_step=say)
        codes = [report_started_and_follow(args, store, d) for d in run_dirs]
    else:
        if args.detach:
            raise UserError("a sweep (seeds / methods / [sweep]) with --detach needs a slurm or pbs target (here the "
                            "runs go one after another)")
        codes = []
        for start in range(0, len(recipes), parallel):
            batch = recipes[start:start + parallel]
            # --parallel K: K runs started together; each is followed (and reported) in turn
            run_dirs = (launcher.launch_many(batch, store, command=cmdline, on_step=say) if len(batch) > 1
                        else [launcher.launch(batch[0], store, command=cmdline, on_step=say)])
            for d in run_dirs:
                codes.append(report_started_and_follow(args, store, d))
                if codes[-1] == 130:  # Ctrl-C stops the sweep, the batch's other runs too
                    for other in run_dirs[run_dirs.index(d) + 1:]:
                        launcher.cancel(other)
                    break
            if 130 in codes:
                break
    console.print(f"group {group}: `workbench compare --group {group}`")
    return max(codes, key=lambda c: (c != 0, c))


def report_started_and_follow(args, store: Path, run_dir: Path) -> int:
    run_id = run_dir.name
    meta = read_run_meta(run_dir)
    where = f"job {meta['job_id']}" if meta.get("job_id") else f"pid {meta.get('pid')}"
    host = f" on {meta['job_host']}" if meta.get("job_host") and meta.get("target", "local") != "local" else ""
    console.print(f"run [bold]{run_id}[/] started ({meta.get('target')}, {where}{host}); folder {run_dir}")
    if args.detach:
        console.print(f"detached: `workbench attach {run_id}` follows it; `workbench stop {run_id}` stops it")
        return 0
    local = meta.get("target", "local") == "local"
    if not local and not args.quiet:
        console.print(f"[dim]Ctrl-C stops following; the run goes on (`workbench attach {run_id}`, "
                      f"`workbench stop {run_id}`)[/]")
    return follow_and_report(store, run_dir, quiet=args.quiet, ctrl_c="stop" if local else "detach")


def follow_and_report(store: Path, run_dir: Path, *, quiet: bool, ctrl_c: str) -> int:
    run_id = run_dir.name
    with LiveProgress(quiet) as live:
        status = follower.follow(store, run_dir, on_events=live.on_events, ctrl_c=ctrl_c,
                                 on_disconnect=lambda m: live.progress.console.print(f"[yellow]connection lost:[/] {m}"))
    if status == "detached":
        console.print(f"stopped following {run_id}; it goes on: `workbench attach {run_id}` / `workbench stop {run_id}`")
        return 0
    console.print(f"run [bold]{run_id}[/] ", status_text(status))
    print_result(store, run_id)
    if status != "completed":
        console.print(f"[dim]trainer output: {run_dir / rundir.TRAIN_LOG}[/]")
    return {"completed": 0, "interrupted": 130}.get(status, 1)


def print_result(store: Path, run_id: str) -> None:
    with connect(store, read_only=True) as con:
        _status, error = read.run_status_error(con, run_id)
        rows = read.base_vs_tuned(con, run_id, "validation")
        warnings = read.run_warnings(con, run_id)
        alone = [] if rows else read.evaluation(con, run_id, "validation")  # no base: an eval run, or eval.base off
    if error:
        console.print(f"[red]{error}[/]", soft_wrap=True)
    if rows:
        for t in diff_tables(rows, ("precision", "recall", "f1"), f"base vs tuned — {run_id} (validation)"):
            console.print(t)
    elif alone:
        console.print(evaluation_table(alone, f"{run_id} (validation)"))
    for w in warnings:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    sys.stdout.flush()


def evaluation_table(rows: list[tuple], title: str):
    """One model's metrics: a row per label (precision, recall, f1, support), then the aggregates."""
    from rich.table import Table

    from workbench.console import AGGREGATES
    from workbench.store.schema import ALL_LABELS

    per: dict[str, dict[str, float]] = {}
    for label, metric, value in rows:
        per.setdefault(label, {})[metric] = value
    metrics = [m for m in ("precision", "recall", "f1", "support") if any(m in v for k, v in per.items() if k != ALL_LABELS)]
    t = Table(title=title, title_justify="left")
    t.add_column("label")
    for m in metrics:
        t.add_column(m, justify="right")
    for label, vals in per.items():
        if label != ALL_LABELS:
            t.add_row(label, *(fmt(vals.get(m)) for m in metrics))
    agg = per.get(ALL_LABELS, {})
    t.caption = "  ".join(f"{m} {fmt(agg[m])}" for m in AGGREGATES if m in agg)
    return t

