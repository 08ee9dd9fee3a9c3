"""`workbench tune`: a search over a recipe's knobs on Optuna, each trial a run of one group (issue 30;
docs/architecture.md "Tune").

In steps, so the front end renders the progress: `plan_tune` checks the recipe, its data, the search
space and the workers this machine can give; `start_tune` creates or continues the study (trial 0: the
recipe's own values), freezes the base recipe beside the study's journal and starts K worker processes
(workbench/tune/worker.py), each on its own GPU where there are GPUs; `follow_tune` ingests the group's
run folders into the store as they appear and hands each finished trial to a callback until the workers
are done; `finish_tune` writes the best trial's recipe and counts what pruning saved."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UserError

POLL_S = 1.0  # how often `tune` looks at the study and ingests its runs
# How long a stopped `tune` waits for its workers to stop their trials (each waits STOP_GRACE_S for its run,
# tune/worker.py) before it kills them and their runs' process groups.
STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class TunePlan:
    """What `tune` will do: the recipe (overrides applied), the study (group, journal), the search space
    (knob: Optuna distribution), the budget, the workers and the GPUs each sees (None: no GPU)."""

    recipe: Any  # workbench.recipe.Recipe
    store: Path
    group: str
    storage: Path
    space: dict[str, Any]
    metric: str
    trials: int
    timeout: int
    devices: list[str | None]
    output: Path


@dataclass
class Tuning:
    """A study under way: its plan, whether it was created now, the worker processes."""

    plan: TunePlan
    created: bool
    workers: list[subprocess.Popen] = field(default_factory=list)


@dataclass(frozen=True)
class TrialLine:
    """A finished trial as `tune` prints it: number, its values, metric value, state, run, why."""

    number: int
    params: dict[str, Any]
    value: float | None
    state: str  # completed / pruned / failed
    run_id: str | None
    why: str | None


@dataclass(frozen=True)
class TuneResult:
    """The study at the end: counts by state, the best trial, the best recipe's path (None: no trial
    completed), and the share of the epochs the trials would have trained unpruned that pruning saved."""

    group: str
    metric: str
    completed: int
    pruned: int
    failed: int
    best_number: int | None
    best_value: float | None
    best_path: Path | None
    epochs_saved: float | None


def assign_devices(parallel: int, devices: Sequence[str], per_trial: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES of each of `parallel` workers: one trial per GPU (or per `per_trial` GPUs,
    launch.gpus > 1), in the order `devices` lists the visible GPUs; None for each when there are none.
    UserError when the workers need more GPUs than there are."""
    if not devices:
        return [None] * parallel
    per = max(1, per_trial)
    if parallel * per > len(devices):
        raise UserError(f"--parallel {parallel}: {parallel} trials of {per} GPU(s) each need {parallel * per} GPUs; "
                        f"this machine has {len(devices)} ({', '.join(devices)})")
    return [",".join(devices[i * per:(i + 1) * per]) for i in range(parallel)]


def visible_gpus() -> list[str]:
    """The GPUs a trial may use here: CUDA_VISIBLE_DEVICES's list when set, else every GPU NVML sees."""
    said = os.environ.get("CUDA_VISIBLE_DEVICES")
    if said is not None:
        return [d for d in (s.strip() for s in said.split(",")) if d and d != "-1"]
    from workbench.telemetry.gpus import open_gpus

    gpus, _note = open_gpus(0, 1)
    return [str(i) for i in range(len(gpus))]


def plan_tune(store: Path, recipe_ref: str, *, overrides: Sequence[str] = (), space: Sequence[str] = (),
              trials: int | None = None, timeout: int | None = None, parallel: int = 1, group: str | None = None,
              output: Path | None = None) -> TunePlan:
    """Check the recipe `recipe_ref` names with its overrides (its data and model source too: preflight),
    its search space ([tune.space], `space`: KEY=LO..HI / KEY=a,b,c; else the task's default) and the
    workers: `parallel` local trials side by side, each on its own cores, or on its own GPU(s)."""
    from workbench.actions.launch import check_cores
    from workbench.actions.validate import preflight
    from workbench.store.db import runs_root
    from workbench.tune import study as tune_study
    from workbench.tune.space import search_space
    from workbench.tune.workers import describe, live_workers

    recipe, _splits = preflight(recipe_ref, list(overrides), [])
    if recipe.axes:
        raise UserError("tune searches its own space: a recipe with [sweep] axes is run with `workbench run`; "
                        "put the knobs in [tune.space] or --space")
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: expected 1 or more trials side by side")
    if trials is not None and trials < 1:
        raise UserError(f"--trials {trials}: expected 1 or more")
    if timeout is not None and timeout < 0:
        raise UserError(f"--timeout {timeout}: expected seconds, 0 for no limit")
    target = recipe.launch.target
    if target.kind != "local":
        raise UserError(f"launch.target = {target}: `workbench tune` runs its trials here for now "
                        "(a cluster job array pulling from the study is not built yet)")
    gpus = visible_gpus()
    devices = assign_devices(parallel, gpus, recipe.launch.gpus)
    if not gpus:
        check_cores(parallel, recipe.launch.processes, "trials")
    out = check_output(output or Path.cwd() / f"{recipe.name}.tuned.toml")
    tuned = recipe.tune
    name = group or recipe.view.group or f"{recipe.name}-tune-{time.strftime('%Y%m%d-%H%M%S')}"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", name):
        raise UserError(f"--group {name!r}: expected letters, digits, _ . - (it names the study's journal file)")
    live = live_workers(runs_root(store), name)
    if live:  # K more workers beside them would share the GPUs and the study twice over (review M8)
        raise UserError(f"tune study {name} has workers running ({', '.join(describe(e) for e in live[:3])}): "
                        f"wait for that `workbench tune` to end, or stop it (Ctrl-C there, or kill its pid)")
    return TunePlan(recipe=recipe, store=store, group=name,
                    storage=tune_study.storage_path(runs_root(store), name), space=search_space(recipe, list(space)),
                    metric=tune_study.metric_name(tuned.metric, recipe.train.best_metric),
                    trials=trials if trials is not None else tuned.trials,
                    timeout=timeout if timeout is not None else tuned.timeout, devices=devices,
                    output=out)


def check_output(output: Path) -> Path:
    """The best recipe's path, checked before any trial runs (review M7): a file whose folder exists and can
    be written; else UserError naming it (found hours later, at the end, it cost the study's result)."""
    path = output.expanduser().absolute()
    if path.is_dir():
        raise UserError(f"--output {output}: is a folder; expected the path of the recipe file to write")
    if not path.parent.is_dir():
        raise UserError(f"--output {output}: no folder {path.parent} to write it in")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UserError(f"--output {output}: the folder {path.parent} cannot be written")
    return path


def start_tune(plan: TunePlan) -> Tuning:
    """Create or continue the study (its space, metric and pruner kept in it; a continued study refuses
    another space: tune/study.py keep_space), freeze the base recipe
    beside its journal, start the workers."""
    from workbench.recipe import write_frozen
    from workbench.store.db import runs_root
    from workbench.tune import study as tune_study
    from workbench.tune.space import own_params
    from workbench.tune.worker import settle_orphans
    from workbench.tune.workers import record_workers

    recipe = plan.recipe
    study, created = tune_study.start_study(plan.storage, plan.group, own_params(recipe, plan.space),
                                            metric=plan.metric, space=plan.space, pruner=recipe.tune.pruner,
                                            seed=recipe.tune.seed, trials=plan.trials, epochs=recipe.train.epochs)
    settle_orphans(study, runs_root(plan.store))  # trials a killed worker of an earlier `tune` left running
    base = plan.storage.with_suffix(".recipe.toml")
    write_frozen(recipe.single({"group": plan.group}), base,
                 f"Base recipe of tune study {plan.group}: each trial is it with the trial's values")
    tuning = Tuning(plan, created)
    try:
        _start_workers(tuning, base)
    finally:  # each started worker is on record, even when a later one fails to start
        record_workers(runs_root(plan.store), plan.group, worker_entries(tuning))
    return tuning


def worker_entries(tuning: Tuning) -> list[dict[str, Any]]:
    """This invocation's workers as tune/workers.py records them."""
    from workbench.tune.workers import local_worker

    return [local_worker(w.pid) for w in tuning.workers]


def _start_workers(tuning: Tuning, base: Path) -> None:
    from workbench.store.db import runs_root

    plan, recipe = tuning.plan, tuning.plan.recipe
    for i, device in enumerate(plan.devices):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        argv = [sys.executable, "-m", "workbench.tune.worker", "--storage", str(plan.storage), "--study", plan.group,
                "--recipe", str(base), "--runs-root", str(runs_root(plan.store)), "--trials", str(plan.trials),
                "--timeout", str(plan.timeout), "--worker", str(i), "--seed", str(recipe.tune.seed)]
        log = open(worker_log(plan, i), "ab")  # noqa: SIM115 - the worker's own; closed here once it holds it
        tuning.workers.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               env=env))
        log.close()


def worker_log(plan: TunePlan, i: int) -> Path:
    """Worker i's output (its errors, Optuna's warnings), beside the study's journal."""
    return plan.storage.with_name(f"{plan.group}.worker{i}.log")


def _line(trial) -> TrialLine:
    state = {"COMPLETE": "completed", "PRUNED": "pruned"}.get(trial.state.name, "failed")
    return TrialLine(trial.number, dict(trial.params), trial.value, state, trial.user_attrs.get("run_id"),
                     trial.user_attrs.get("why"))


def _ingest(store: Path, runs: Path, run_ids: list[str]) -> list[str]:
    from workbench.actions.sync import ingest_folders

    dirs = [runs / r for r in run_ids if (runs / r / "run.json").exists()]
    return ingest_folders(store, dirs).warnings if dirs else []


def follow_tune(tuning: Tuning, on_trial: Callable[[TrialLine], None],
                on_warning: Callable[[str], None] = lambda w: None) -> None:
    """Until every worker has ended: ingest the group's run folders (registered as they appear, settled
    when they end) and hand each trial that finished to `on_trial`, in the order they finish."""
    from optuna.trial import TrialState

    from workbench.store.db import runs_root
    from workbench.tune import study as tune_study
    from workbench.tune.worker import settle_own

    plan = tuning.plan
    runs = runs_root(plan.store)
    study = tune_study.open_study(plan.storage, plan.group)
    told = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    open_runs: set[str] = set()
    while True:
        running = any(w.poll() is None for w in tuning.workers)
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            if t.state == TrialState.RUNNING and t.user_attrs.get("run_id"):
                open_runs.add(t.user_attrs["run_id"])
        finished = [t for t in trials if t.state.is_finished() and t.number not in told]
        for w in _ingest(plan.store, runs, sorted(open_runs | {t.user_attrs["run_id"] for t in finished
                                                                if t.user_attrs.get("run_id")})):
            on_warning(w)
        for t in finished:
            told.add(t.number)
            open_runs.discard(t.user_attrs.get("run_id"))
            on_trial(_line(t))
        if not running:
            break
        time.sleep(POLL_S)
    for i, proc in enumerate(tuning.workers):  # a worker's bad end is said, with where it said why
        if proc.returncode not in (0, 130):
            on_warning(f"tune worker {i} exited with status {proc.returncode}; see {worker_log(plan, i)}")
    # A worker killed mid-trial leaves its trial running: settle this tune's own (never another tune's of
    # the same group, whose workers may still run them).
    for number in settle_own(study, runs, {w.pid for w in tuning.workers}):
        on_trial(_line(study.get_trials(deepcopy=False)[number]))


def stop_tune(tuning: Tuning, *, forced: Callable[[], bool] = lambda: False) -> bool:
    """Ctrl-C (or SIGTERM): stop the workers; each stops the trial it runs (its run ends cancelled, the trial
    failed) and exits (tune/worker.py). Bounded: after STOP_WAIT_S, or at once when `forced()` says so (a
    second Ctrl-C), the workers are killed and so are their trials' runs (SIGKILL to each process group),
    and their trials told FAIL. The trials' runs are ingested once more, so the store says so. True when
    it had to kill."""
    from optuna.trial import TrialState

    from workbench import rundir
    from workbench.launch import agent
    from workbench.launch.run_folder import request_stop
    from workbench.store.db import runs_root
    from workbench.tune import study as tune_study
    from workbench.tune.worker import owner, settle_own

    for w in tuning.workers:
        if w.poll() is None:
            w.terminate()
    deadline = time.monotonic() + STOP_WAIT_S
    while any(w.poll() is None for w in tuning.workers) and not forced() and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = any(w.poll() is None for w in tuning.workers)
    runs = runs_root(tuning.plan.store)
    study = tune_study.open_study(tuning.plan.storage, tuning.plan.group)
    if killed:
        for w in tuning.workers:
            if w.poll() is None:
                w.kill()
            w.wait()
        pids, host = {w.pid for w in tuning.workers}, owner()["worker_host"]
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run_id = t.user_attrs.get("run_id")
            if t.user_attrs.get("worker_host") == host and t.user_attrs.get("worker_pid") in pids and run_id:
                if (runs / str(run_id) / rundir.JOB).exists():
                    request_stop(runs / str(run_id))
                    agent.cancel(runs / str(run_id), "SIGKILL")
        settle_own(study, runs, {w.pid for w in tuning.workers})
    _ingest(tuning.plan.store, runs,
            [str(t.user_attrs["run_id"]) for t in study.get_trials(deepcopy=False) if t.user_attrs.get("run_id")])
    return killed


def finish_tune(tuning: Tuning) -> TuneResult:
    """Count the study's trials, write the best trial's recipe (`plan.output`) and say what pruning saved:
    the epochs pruned trials did not train, of those every finished trial would have trained unpruned.
    This invocation's workers are taken off the study's workers file (they have ended)."""
    from optuna.trial import TrialState

    from workbench.store.db import runs_root
    from workbench.tune import study as tune_study
    from workbench.tune.workers import forget_workers

    plan = tuning.plan
    forget_workers(runs_root(plan.store), plan.group, worker_entries(tuning))
    study = tune_study.open_study(plan.storage, plan.group)
    trials = study.get_trials(deepcopy=False)
    by = {s: [t for t in trials if t.state == s] for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    ran = sum(int(t.user_attrs.get("epochs_run", 0)) for t in trials if t.state.is_finished())
    saved = sum(max(0, int(t.user_attrs.get("epochs_planned", 0)) - int(t.user_attrs.get("epochs_run", 0)))
                for t in by[TrialState.PRUNED])
    planned = ran + saved  # what the trials would have trained unpruned (a completed one: what it trained)
    best = study.best_trial if by[TrialState.COMPLETE] else None
    path = None
    if best is not None and best.value is not None:
        path = _write_best(plan, best)
    return TuneResult(plan.group, plan.metric, len(by[TrialState.COMPLETE]), len(by[TrialState.PRUNED]),
                      len(by[TrialState.FAIL]), best.number if best else None, best.value if best else None, path,
                      saved / planned if planned else None)


def _write_best(plan: TunePlan, best: Any) -> Path:
    """The best trial's recipe: the source file with every value the trial's frozen recipe (its run folder)
    has otherwise, so it reproduces the trial whichever invocation ran it, with whatever --set, recipe edits
    or space it had then (review M4). A trial with no run folder (told by hand) has its values set alone."""
    from workbench import rundir
    from workbench.recipe import load_recipe
    from workbench.store.db import runs_root
    from workbench.tune.best_recipe import changed_values, write_best
    from workbench.tune.space import trial_recipe_values

    source = load_recipe(plan.recipe.path) if plan.recipe.path is not None else plan.recipe
    frozen = runs_root(plan.store) / str(best.user_attrs.get("run_id")) / rundir.RECIPE
    values = (changed_values(load_recipe(frozen), source) if best.user_attrs.get("run_id") and frozen.is_file()
              else trial_recipe_values(best.params))
    return write_best(plan.recipe.path, source, values, study=plan.group, trial=best.number, metric=plan.metric,
                      value=float(best.value), output=plan.output)
