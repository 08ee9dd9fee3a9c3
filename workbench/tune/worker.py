"""The tune worker: `python -m workbench.tune.worker --storage PATH --study G --recipe RECIPE --runs-root DIR
--trials N [--timeout S] [--worker I]` (issue 30; docs/architecture.md "Tune").

Until the study holds N trials (finished or running) or the timeout passes: ask a trial from the shared
journal storage, make its run folder in the group (the frozen recipe with the trial's values; run.json's
`tune` names study, storage and trial), start it as every local run starts (launch/agent.py: the
supervisor detached, train.log, exit.json, events), wait for it to end, read its metric from its events
and tell the study COMPLETE, PRUNED (its pruner stopped it from inside: train/prune.py) or FAIL. A failed
trial is told FAIL and the loop goes on; a trial stopped by `workbench stop` ends the worker.

K workers share one study (the `tune` command starts them; a job array's tasks each run one). The worker
never opens the store: the `tune` command (or `sync`, or the app) ingests the group's run folders."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import json_to_distribution
from optuna.trial import TrialState

from workbench import rundir
from workbench.errors import UserError
from workbench.events import End, Eval, read_events
from workbench.launch import agent, batch
from workbench.launch.run_folder import create_run, record_job_meta, request_stop
from workbench.recipe import Recipe, load_recipe
from workbench.tune import study as tune_study
from workbench.tune.space import trial_recipe_values

POLL_S = 0.5  # how often a running trial's folder is looked at (exit.json, its supervisor's pid)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# A running trial with no run started this long after it was asked is an orphan (its worker was killed
# between ask and start): a worker takes well under a second from ask to a started run.
ORPHAN_GRACE_S = 600
# How long a trial's run may take to end after SIGTERM before its process group is killed (a trainer in a
# collective or a long evaluation may not answer): `tune`'s own wait on its workers is longer (actions/tune.py).
STOP_GRACE_S = 20.0


@dataclass(frozen=True)
class Outcome:
    """How a trial's run ended: the state to tell, its metric (COMPLETE only), the epochs it trained,
    and why (the run's error)."""

    state: TrialState
    value: float | None
    epochs_run: int
    why: str | None
    stopped: bool = False  # a user's `workbench stop`: the study stops too


def outcome(run_dir: Path, metric: str) -> Outcome:
    """The trial's result from its run folder's events: the tuned validation `metric` of a completed run
    (the checkpoint train.best_metric kept), PRUNED for a pruned one, FAIL otherwise."""
    events = read_events(rundir.events_file(run_dir)).events if rundir.events_file(run_dir).exists() else []
    epochs = sum(1 for e in events if isinstance(e, Eval) and e.phase == "epoch")
    ends = [e for e in events if isinstance(e, End)]
    stopped = bool(rundir.read_run_meta(run_dir).get("stop_requested_at"))
    if not ends:
        return Outcome(TrialState.FAIL, None, epochs, "the run ended without an end event; see its train.log",
                       stopped)
    end = ends[-1]
    if end.status == "pruned":
        return Outcome(TrialState.PRUNED, None, epochs, end.error, stopped)
    if end.status != "completed":
        return Outcome(TrialState.FAIL, None, epochs, end.error or end.status, stopped)
    tuned = [e for e in events if isinstance(e, Eval) and e.phase == "tuned" and e.split == "validation"]
    value = (tuned[-1].aggregates or {}).get(metric) if tuned else None
    if not isinstance(value, (int, float)):
        return Outcome(TrialState.FAIL, None, epochs, f"its tuned validation evaluation has no {metric}")
    return Outcome(TrialState.COMPLETE, float(value), epochs, None)


def space_of(study: optuna.Study) -> dict[str, optuna.distributions.BaseDistribution]:
    """The search space the `tune` command kept in the study (each worker asks over the same one)."""
    kept = study.user_attrs.get("space")
    if not isinstance(kept, dict) or not kept:
        raise UserError(f"tune study {study.study_name} keeps no search space (start it with `workbench tune`)")
    return {knob: json_to_distribution(text) for knob, text in kept.items()}


def owner() -> dict[str, Any]:
    """Who runs a trial, kept in its user attrs as soon as it is asked: the worker's host and pid (so
    that `tune` settles only its own workers' trials, and a gone worker's trial is known as such)."""
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid()}


def tell(study: optuna.Study, trial: optuna.trial.Trial | optuna.trial.FrozenTrial, got: Outcome) -> bool:
    """Tell the study how the trial ended (its epochs and why kept in its user attrs). False when another
    process told it first (the trial was finished already): its first word stands."""
    attrs: dict[str, Any] = {"epochs_run": got.epochs_run, **({"why": got.why} if got.why else {})}
    try:
        for key, value in attrs.items():
            if isinstance(trial, optuna.trial.Trial):
                trial.set_user_attr(key, value)
            else:
                study._storage.set_trial_user_attr(trial._trial_id, key, value)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    number = trial.number
    if got.state == TrialState.COMPLETE:
        study.tell(number, got.value, skip_if_finished=True)
    else:
        study.tell(number, state=got.state, skip_if_finished=True)
    return True


def settle(study: optuna.Study, trial: optuna.trial.Trial | optuna.trial.FrozenTrial, run_dir: Path | None,
           why: str) -> Outcome:
    """Tell a trial whose worker will not: from its run's exit.json when the run has ended (a completed
    result is not lost), else FAIL saying `why`."""
    if run_dir is not None and (run_dir / rundir.EXIT).exists():
        try:  # settling is often the way out of an error: it must not raise another and leave it running
            got = outcome(run_dir, str(study.user_attrs.get("metric", "")))
        except OSError as e:
            got = Outcome(TrialState.FAIL, None, 0, f"its run folder cannot be read ({e}); {why}")
    else:
        got = Outcome(TrialState.FAIL, None, 0, why)
    tell(study, trial, got)
    if got.state == TrialState.FAIL and run_dir is not None:
        end_orphan_run(run_dir)
    return got


def end_orphan_run(run_dir: Path) -> bool:
    """Stop the run of a trial told FAIL while it still runs here (its worker ended, or could not read it):
    no one would read its result, and it would hold the cores or the GPU. True when it ran. (Not a user's
    stop: it ends as the signal ends it.)"""
    job = rundir.read_job(run_dir) or {}
    if job.get("kind") != "local" or job.get("host") != socket.gethostname():
        return False
    if agent.state(run_dir)["state"] != batch.RUNNING:
        return False
    agent.stop_within(run_dir, STOP_GRACE_S)
    return True


def settle_own(study: optuna.Study, runs_root: Path, worker_pids: set[int]) -> list[int]:
    """Settle the trials still running that the workers `worker_pids` of this host started, once those
    workers have ended (`tune`'s closing sweep): another `tune`'s trials of the same study are left alone.
    The trials settled."""
    host = socket.gethostname()
    settled = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("worker_host") != host or t.user_attrs.get("worker_pid") not in worker_pids:
            continue
        run_id = t.user_attrs.get("run_id")
        settle(study, t, runs_root / str(run_id) if run_id else None, "its worker ended before the trial did")
        settled.append(t.number)
    return settled


def settle_orphans(study: optuna.Study, runs_root: Path, *, now: float | None = None) -> list[int]:
    """Settle each trial still running in the study that its worker will never tell (killed before it
    told): left running, it would count toward tune.trials for ever. A trial whose run ended (exit.json)
    is told its run's result; one whose supervisor is gone is told FAIL, but only when its job ran on this
    host (another node's processes cannot be seen from here: its trial is left to its own worker); one
    with no run started yet is told FAIL once ORPHAN_GRACE_S old. A live trial is never touched. The
    trials settled."""
    host = socket.gethostname()
    now = time.time() if now is None else now
    settled = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = t.user_attrs.get("run_id")
        run_dir = runs_root / str(run_id) if run_id else None
        job = rundir.read_job(run_dir) if run_dir is not None and run_dir.is_dir() else None
        if run_dir is not None and (run_dir / rundir.EXIT).exists():
            pass  # the run is over: its result is told
        elif job is not None and run_dir is not None:
            if job.get("host") != host or agent.pid_alive(job.get("pid"), run_dir):
                continue
        elif t.datetime_start is None or now - t.datetime_start.timestamp() < ORPHAN_GRACE_S:
            continue  # asked a moment ago: its worker is making its run folder
        settle(study, t, run_dir, "its worker ended before the trial did")
        settled.append(t.number)
    return settled


def counted(study: optuna.Study) -> int:
    """Trials that count toward tune.trials: finished or running (an enqueued one waits to be asked)."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING)


def trial_recipe(base: Recipe, params: dict[str, Any], group: str) -> Recipe:
    """The base recipe with the trial's values (as recipe values: tune/space.py), in the study's group."""
    return base.single({**trial_recipe_values(params), "group": group})


def start_trial(run_dir: Path) -> None:
    """Start the trial's run as a local run starts (launch/agent.py: the supervisor detached in its own
    session, train.log, job.json), recording the job in run.json as the launcher does; returns when it
    has ended."""
    job = agent.start(run_dir)
    record_job_meta(run_dir, str(run_dir), job)
    while not (run_dir / rundir.EXIT).exists() and not _ended(job["pid"]):
        time.sleep(POLL_S)


def _ended(pid: int) -> bool:
    """The supervisor (this process's child) has exited: without exit.json it was killed."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:  # reaped already (subprocess's own clean-up of finished children)
        return True


_held = 0  # how deep in held_signals blocks the worker is
_pending: str | None = None  # a stop that came while held


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Hold a stop for the block (it is raised once the block is over): Stopped must not land inside
    Optuna's ask or tell, or between a trial's end and its telling. (A flag, not a signal mask: a
    process-directed signal may be taken by any thread; Python runs its handler in the main thread.)"""
    global _held, _pending
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    if not _held and _pending:
        name, _pending = _pending, None
        raise Stopped(name)


class Stopped(BaseException):
    """The worker was asked to stop (SIGTERM / SIGINT / SIGHUP: Ctrl-C on `tune`, the scheduler)."""


def _stop(signum, frame):
    global _pending
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if _held:
        _pending = signal.Signals(signum).name
        return
    raise Stopped(signal.Signals(signum).name)


def stop_trial(run_dir: Path) -> None:
    """Stop a trial's run as `workbench stop` does (recorded as asked for: it ends cancelled), waiting for
    it STOP_GRACE_S at most; then its process group is killed."""
    request_stop(run_dir)
    if rundir.read_job(run_dir):
        agent.stop_within(run_dir, STOP_GRACE_S)


def work(storage: Path, group: str, recipe_path: Path, runs_root: Path, *, trials: int, timeout: float = 0,
         worker: int = 0, seed: int = 0) -> int:
    """The loop; returns how many trials this worker ran."""
    study = tune_study.open_study(storage, group, seed=seed, trials=trials, worker=worker)
    space = space_of(study)
    metric = str(study.user_attrs["metric"])
    base = load_recipe(recipe_path)
    deadline = time.monotonic() + timeout if timeout > 0 else None
    ran = 0
    # Optuna's own trial budget (MaxTrialsCallback) counts the same way: K workers asking at once may run
    # up to K - 1 trials past it.
    while counted(study) < trials and (deadline is None or time.monotonic() < deadline):
        trial: optuna.trial.Trial | None = None
        run_dir: Path | None = None
        try:
            with held_signals():  # a stop waits until the trial is asked and marked as this worker's
                trial = study.ask(fixed_distributions=space)
                for key, value in owner().items():
                    trial.set_user_attr(key, value)
            recipe = trial_recipe(base, trial.params, group)
            trial.set_user_attr("epochs_planned", recipe.train.epochs)
            tune = {"study": group, "storage": str(storage), "trial": trial.number}
            run_dir = create_run(recipe, runs_root, target="local", command="workbench tune", meta={"tune": tune})
            trial.set_user_attr("run_id", run_dir.name)  # `tune` follows the run from here
            try:
                start_trial(run_dir)
            except Stopped:  # the worker is stopped: so is its trial (a user's stop: the run ends cancelled)
                stop_trial(run_dir)
                raise
            with held_signals():  # a stop while the result is read and told waits until it is told
                got = outcome(run_dir, tune_study.metric_name(metric, recipe.train.best_metric))
                tell(study, trial, got)
            if got.state == TrialState.FAIL:
                end_orphan_run(run_dir)  # its supervisor gone, its trainer may train on: nothing reads it now
        except BaseException as e:  # re-raised: the trial is told first (its run's result if it ended)
            if trial is not None:
                with held_signals():
                    settle(study, trial, run_dir, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            raise
        ran += 1
        if got.stopped:
            break
    return ran


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.tune.worker", description=__doc__.splitlines()[0])
    p.add_argument("--storage", type=Path, required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--recipe", type=Path, required=True)
    p.add_argument("--runs-root", type=Path, required=True)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--timeout", type=float, default=0)
    p.add_argument("--worker", type=int, default=int(os.environ.get("SLURM_ARRAY_TASK_ID", "0")))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    # A stop (Ctrl-C on `tune`, the scheduler) stops the trial running (its run ends cancelled, the trial
    # failed) and ends the loop.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)
    try:
        work(args.storage, args.study, args.recipe, args.runs_root, trials=args.trials, timeout=args.timeout,
             worker=args.worker, seed=args.seed)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Stopped:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
