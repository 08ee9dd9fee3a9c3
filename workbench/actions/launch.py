"""Starting runs, for `workbench run` and the app's launch dialog: a recipe (path or shipped name),
its overrides, sweeps and seeds checked into a RunPlan (plan_run); its --dry-run notes and script
(dry_run) and the app's preview (preview); one run started (start_run) or a sweep's runs, one group
(plan_sweep, start_sweep; from the app, `workbench run` itself detached: start_group_detached)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import UserError
from workbench.launch import launcher
from workbench.rundir import read_run_meta

if TYPE_CHECKING:
    from workbench.recipe import Recipe

OnStep = Callable[[str], None]  # one launch step in words ("uploading the recipe"), as it begins

MAX_LISTED = 12  # runs a dry run's notes list one by one


@dataclass(frozen=True)
class RunPlan:
    """A checked recipe and what it starts: `variants` holds one change dict {knob: value} per run (one
    for a plain run; method × trial × seed for a sweep); `overrides` and `sweeps` are the --set and
    --sweep items it was loaded with, `command` the command line recorded with each run, `parallel` how
    many local runs of a sweep run at a time."""

    recipe: Recipe
    variants: list[dict[str, Any]]
    store: Path
    overrides: tuple[str, ...]
    sweeps: tuple[str, ...]
    command: str
    parallel: int = 1

    @property
    def is_sweep(self) -> bool:
        return len(self.variants) > 1


@dataclass(frozen=True)
class DryRun:
    """What a dry run shows: `notes` (the values --set gave, the runs the recipe starts) and `script`,
    the exact command line or batch script of the first run."""

    notes: list[str]
    script: str


@dataclass(frozen=True)
class Sweep:
    """A plan's runs as one group: `kind` (sweep, methods or seeds), the `group` name, one single-run
    recipe per run, and `description` (what varies, e.g. `grid 2 × 2 (train.learning_rate, lora.r)`)."""

    kind: str
    group: str
    recipes: list[Recipe]
    description: str


@dataclass(frozen=True)
class Started:
    """A run just started (or submitted): its id and folder, the target it runs on, and where (the
    scheduler's job id, else the process id; the job's host when it is not this machine)."""

    run_id: str
    run_dir: Path
    target: str
    job_id: str | None
    pid: int | None
    host: str | None

    @property
    def local(self) -> bool:
        return self.target == "local"


def started(run_dir: Path) -> Started:
    """The Started facts of a run folder (its run.json)."""
    meta = read_run_meta(run_dir)
    target = str(meta.get("target", "local"))
    job_id = meta.get("job_id")
    return Started(run_dir.name, run_dir, target, str(job_id) if job_id else None, meta.get("pid"),
                   meta.get("job_host") if target != "local" else None)


def plan_run(store: Path, recipe_ref: str, overrides: Sequence[str] = (), sweeps: Sequence[str] = (), *,
             seeds: str | None = None, parallel: int = 1, command: str | None = None) -> RunPlan:
    """Check the recipe `recipe_ref` names (a .toml path or a shipped recipe's name) with its overrides
    and sweeps, its data and model source (preflight: bad input stops here, before any model loads), and
    expand its runs. `seeds`: a --seeds list (1,2,3 or 0-4). `command`: the command line to record;
    default `workbench run RECIPE --set ... --sweep ...`."""
    from workbench.actions.validate import preflight

    recipe, _splits = preflight(recipe_ref, list(overrides), list(sweeps))
    variants = recipe.runs(parse_seeds(seeds) if seeds else None)
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: expected 1 or more concurrent runs")
    if command is None:
        command = shlex.join(["workbench", "run", recipe_ref, *sum((["--set", o] for o in overrides), []),
                              *sum((["--sweep", o] for o in sweeps), [])])
    return RunPlan(recipe, variants, store, tuple(overrides), tuple(sweeps), command, parallel)


def dry_run(plan: RunPlan) -> DryRun:
    """The plan's notes and its first run's command line or batch script; starts nothing."""
    return DryRun(plan_lines(plan.recipe, list(plan.overrides), list(plan.sweeps), plan.variants),
                  launcher.dry_run(plan.recipe.single(plan.variants[0]), plan.store))


def preview(recipe: Recipe, store: Path) -> DryRun:
    """What the app's launch dialog previews as its fields change (the recipe loaded, no preflight): for a
    recipe of several runs the runs, each with its GPU memory estimate; the first run's command or script."""
    variants = recipe.runs()
    notes = plan_lines(recipe, [], [], variants, memory=True) if len(variants) > 1 else []
    return DryRun(notes, launcher.dry_run(recipe.single(variants[0]), store))


def plan_lines(recipe: Recipe, overrides: list[str], sweeps: list[str], variants: list[dict[str, Any]], *,
               memory: bool = False) -> list[str]:
    """What --dry-run says before the script: the values --set gave, and the runs the recipe starts
    (`memory`: each listed run's GPU memory estimate under it)."""
    lines = [f"--set {o.partition('=')[0].strip()} = {_shown(recipe[o.partition('=')[0].strip()])}" for o in overrides]
    if len(variants) == 1:
        return lines + ["1 run"]
    lines.append(f"{len(variants)} runs, one group: " + describe_sweep(recipe, variants))
    # a knob a method does not read is absent from its runs (lora.r of a full fine-tune): shown as —
    keys = dict.fromkeys(k for v in variants for k in v if k not in ("seeds", "methods"))
    varying = [k for k in keys if len({_shown(v[k]) if k in v else "—" for v in variants}) > 1]
    gpu_memory = None
    if memory and not recipe.launch.target.remote:
        from workbench.telemetry.gpus import memory_totals

        gpu_memory = memory_totals()  # once, not once per run
    for i, v in enumerate(variants[:MAX_LISTED]):
        lines.append(f"  run {i + 1}: " + ", ".join(f"{k}={_shown(v[k]) if k in v else '—'}" for k in varying))
        if memory:
            one = recipe.single(v)
            lines.append("    " + launcher.memory_note(one, one.launch.target, gpu_memory)[0].removeprefix("# "))
    if len(variants) > MAX_LISTED:
        lines.append(f"  … and {len(variants) - MAX_LISTED} more")
    lines.append("the script below is the first run's; the others differ only in those values")
    return lines


def _shown(v: Any) -> str:
    from workbench.store.rows import param_text

    return param_text(v)


def describe_sweep(recipe: Recipe, variants: list[dict[str, Any]]) -> str:
    """`methods lora, full × grid 2 × 2 (train.learning_rate, lora.r) × seeds 1, 2`, and the methods that run
    fewer trials: `; full: 2 trials (lora.r: lora only)`."""
    from workbench.recipe.schema import BY_NAME

    parts = []
    method_of = [v["model.method"] for v in variants]
    methods = list(dict.fromkeys(method_of))
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
    # a method that reads only some swept knobs runs fewer trials (a full fine-tune beside a LoRA rank study)
    fewer = []
    for m in methods:
        unread = [k for k in recipe.axes if not BY_NAME[k].used_by(m)]
        if unread and len(methods) > 1:
            n = method_of.count(m) // len(seeds)  # each trial runs once per seed
            fewer.append(f"{m}: {n} trial{'s' * (n != 1)} (" + ", ".join(
                f"{k}: {', '.join(BY_NAME[k].methods)} only" for k in unread) + ")")
    return " × ".join(parts) + "".join(f"; {f}" for f in fewer)


def parse_seeds(text: str) -> list[int]:
    """The seeds of a --seeds list: `1,2,3` or `0-4` (or both, comma separated), distinct."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        lo, dash, hi = part.partition("-")
        if not (lo.isdigit() and (not dash or hi.isdigit())):
            raise UserError(f"--seeds {text!r}: expected seeds like 1,2,3 or 0-4")
        seeds += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text!r}: expected distinct seeds like 1,2,3 or 0-4")
    return seeds


def sweep_runs(recipe: Recipe, variants: list[dict[str, Any]]) -> tuple[str, str, list[Recipe]]:
    """(kind, group, one single-run recipe per variant): the recipe's `group`, else one named after
    the recipe, what varies and the time."""
    kind = "sweep" if recipe.axes else "methods" if len({v["model.method"] for v in variants}) > 1 else "seeds"
    group = recipe.view.group or f"{recipe.name}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    return kind, group, [recipe.single({**v, "group": group}) for v in variants]


def plan_sweep(plan: RunPlan) -> Sweep:
    """The plan's runs as one group; refuses a `parallel` the target or this machine cannot give (only
    local CPU runs run side by side, each on its own cores)."""
    recipe, parallel = plan.recipe, plan.parallel
    kind, group, recipes = sweep_runs(recipe, plan.variants)
    target = recipe.launch.target
    if parallel > 1:
        if target.kind != "local":
            raise UserError(f"--parallel runs local runs side by side; {target} "
                            + ("runs a sweep as a job array" if target.scheduler else "runs them one after another"))
        if recipe.launch.gpus > 0:
            raise UserError(f"--parallel {parallel} with launch.gpus = {recipe.launch.gpus}: concurrent runs would "
                            "share the same GPUs; run them one after another (or on a cluster, as a job array)")
        check_cores(parallel, recipe.launch.processes, "runs")
    return Sweep(kind, group, recipes, describe_sweep(recipe, plan.variants))


def check_cores(parallel: int, processes: int, what: str) -> None:
    """`parallel` local CPU runs (or tune trials: `what`) of `processes` process(es) each fit this machine's
    cores, each on its own; else UserError."""
    cores = os.cpu_count() or 1
    if parallel * processes > cores:
        raise UserError(f"--parallel {parallel}: {parallel} {what} of {processes} process(es) "
                        f"need {parallel * processes} cores; this machine has {cores}")


def start_run(plan: RunPlan, *, on_step: OnStep | None = None) -> Started:
    """Start the plan's one run: the recipe with that run's values (a one-value --sweep, one seed, a
    methods entry's knobs). A launch that fails leaves the run recorded as failed (launcher.launch)."""
    return started(launcher.launch(plan.recipe.single(plan.variants[0]), plan.store, command=plan.command,
                                   on_step=on_step))


def start_sweep(plan: RunPlan, sweep: Sweep, follow: Callable[[Started], bool], *,
                on_step: OnStep | None = None) -> list[Started]:
    """Start a sweep's runs and hand each to `follow` as it is under way. On a scheduler all are
    submitted first (SLURM: one job array; PBS: one job each), then followed in turn. Elsewhere the runs
    go one after another, `plan.parallel` at a time: `follow` returns when its run has ended, and False
    stops the sweep (the batch's other runs are cancelled). Returns the runs started."""
    out: list[Started] = []
    if plan.recipe.launch.target.scheduler:
        for run_dir in launcher.launch_many(sweep.recipes, plan.store, command=plan.command, on_step=on_step):
            out.append(started(run_dir))
            follow(out[-1])
        return out
    for first in range(0, len(sweep.recipes), plan.parallel):
        batch = sweep.recipes[first:first + plan.parallel]
        run_dirs = (launcher.launch_many(batch, plan.store, command=plan.command, on_step=on_step) if len(batch) > 1
                    else [launcher.launch(batch[0], plan.store, command=plan.command, on_step=on_step)])
        for i, run_dir in enumerate(run_dirs):
            out.append(started(run_dir))
            if not follow(out[-1]):
                for other in run_dirs[i + 1:]:
                    launcher.cancel(other)
                return out
    return out


@dataclass(frozen=True)
class GroupStarted:
    """A group of runs handed to `workbench run` started detached (start_group_detached): its group name, how
    many runs it starts, the process (in its own session: it outlives the app) and the file of its output."""

    group: str
    kind: str
    total: int
    process: subprocess.Popen
    log: Path


def start_group_detached(plan: RunPlan, sweep: Sweep, recipe_ref: str) -> GroupStarted:
    """The app's launch of a plan of several runs on a target without a scheduler: `workbench run` of the same
    recipe, --set and --sweep items, its group named, started detached, so the runs go one after another
    exactly as in a terminal (start_sweep: a failed run is followed by the next, a stopped one stops the
    group). Its output goes to groups/GROUP.log beside the store."""
    sets = [a for o in (*plan.overrides, f"group={sweep.group}") for a in ("--set", o)]
    argv = [sys.executable, "-m", "workbench", "--store", str(plan.store.resolve()), "run",
            str(Path(recipe_ref).resolve()) if Path(recipe_ref).exists() else recipe_ref, *sets,
            *[a for o in plan.sweeps for a in ("--sweep", o)], "--quiet"]
    log = plan.store.resolve().parent / "groups" / f"{sweep.group}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    return GroupStarted(sweep.group, sweep.kind, len(sweep.recipes), process, log)


def group_runs(store: Path, group: str) -> list[tuple[str, Path]]:
    """The runs of a group in the store so far, oldest first, with their folders."""
    from workbench.store import read
    from workbench.store.db import connect, runs_root

    with connect(store) as con:  # read-write: the app's own connections are (DuckDB refuses both in one process)
        return [(r, Path(read.run_dir_recorded(con, r) or runs_root(store) / r)) for r in read.group_members(con, group)]


def first_group_run(store: Path, started_group: GroupStarted, poll_s: float = 0.2) -> Started:
    """Wait until the group's first run is in the store (its launch went through), or the process ended
    without one: then its last `error:` line, as a UserError."""
    while True:
        ended = started_group.process.poll() is not None  # before the store: a run recorded just before the end counts
        runs = group_runs(store, started_group.group)
        if runs:
            return started(runs[0][1])
        if ended:
            text = started_group.log.read_text(encoding="utf-8", errors="replace").splitlines()
            said = [line.removeprefix("error: ") for line in text if line.startswith("error: ")]
            raise UserError(said[-1] if said else f"`workbench run` ended (exit status {started_group.process.returncode}) "
                            f"before its first run started; its output: {started_group.log}")
        time.sleep(poll_s)
