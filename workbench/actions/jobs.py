"""Runs under way, for `workbench attach`, `resume` and `stop` (and `run` / `eval`, which follow the run they
start), and for the app's resume and stop: a run located (locate, attach), followed to its end (follow)
with its result read back (run_result), resumed (resume), stopped (stop, send_stop, wait_final)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.actions.launch import Started, started
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.errors import UserError
from workbench.events import FINAL_STATUSES
from workbench.launch import follow as follower
from workbench.launch import launcher
from workbench.launch.follow import OnEvents
from workbench.launch.hosts import HostUnreachable
from workbench.store import read
from workbench.store.db import connect

OnDisconnect = Callable[[str], object]  # a dropped connection to the run's host, in words (retried)


@dataclass(frozen=True)
class RunAt:
    """A run a reference names: its id, its status in the store and its folder on this machine."""

    run_id: str
    status: str | None
    run_dir: Path

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class RunResult:
    """What a run ended with, from the store: its error (None when it has none), the base-vs-tuned rows
    of its validation split (label, metric, base, tuned, delta), else (an eval run, or eval.base off) the
    one model's rows (label, metric, value), its warnings, its eval.targets judged (read.targets rows) and its
    label prior on validation ({(label, metric): value}, read.prior_evaluation)."""

    run_id: str
    error: str | None
    base_vs_tuned: list[tuple]
    evaluation: list[tuple]
    warnings: list[str]
    targets: list[tuple] = field(default_factory=list)
    prior: dict[tuple[str, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class Resumed:
    """A run started again from its last complete checkpoint: where it runs now (job id or pid, host),
    the status it had before, and whether it runs on this machine."""

    run: Started
    previous_status: str
    job_id: str | None
    pid: int | None
    host: str | None


@dataclass(frozen=True)
class Stopping:
    """A stop asked of a run: `detail` says what was sent (None when the run had already ended, then
    `run.status` is its final status)."""

    run: RunAt
    detail: str | None


def locate(store: Path, ref: str, *, read_only: bool = True) -> RunAt:
    """The run `ref` names (an id, a unique prefix or suffix, 'last'): its status and folder (UserError
    when the folder is not on this machine). `read_only=False` inside the app's process."""
    with connect(store, read_only=read_only) as con:
        run_id = resolve_run(con, ref)
        status = read.run_status(con, run_id)
    return RunAt(run_id, status, run_dir_of(store, run_id, read_only=read_only))


def attach(store: Path, ref: str) -> RunAt:
    """The run to follow again; refuses first an environment that cannot follow (check_follow_env)."""
    launcher.check_follow_env()
    return locate(store, ref)


def follow(store: Path, run_dir: Path, *, on_events: OnEvents, ctrl_c: str,
           on_disconnect: OnDisconnect | None = None, cancelled: Callable[[], bool] | None = None) -> str:
    """Follow a run (mirror, ingest, settle) until it ends: its final status. With ctrl_c="detach" Ctrl-C
    or `cancelled()` (the app's worker) stops following ("detached"), with ctrl_c="stop" Ctrl-C
    interrupts the run. `on_events` gets each batch of events read, in order."""
    return follower.follow(store, run_dir, on_events=on_events, ctrl_c=ctrl_c, on_disconnect=on_disconnect,
                           cancelled=cancelled)


def run_result(store: Path, run_id: str) -> RunResult:
    """The ended run's error, metrics on its validation split and warnings, from the store."""
    with connect(store, read_only=True) as con:
        _status, error = read.run_status_error(con, run_id)
        rows = read.base_vs_tuned(con, run_id, "validation")
        warnings = read.run_warnings(con, run_id)
        alone = [] if rows else read.evaluation(con, run_id, "validation")  # no base: an eval run, or eval.base off
        targets = read.targets(con, run_id)
        prior = read.prior_evaluation(con, run_id, "validation")
    return RunResult(run_id, error, list(rows), list(alone), list(warnings), list(targets), prior)


def resume(store: Path, ref: str, *, read_only: bool = True) -> Resumed:
    """Continue a failed, interrupted or cancelled run from its last complete checkpoint, on the target it
    ran on. A run the store still has as queued or running (its follower died) is first settled from its
    job's real state. `read_only=False` inside the app's process."""
    launcher.check_follow_env()  # before a run left queued / running is settled below
    run = locate(store, ref, read_only=read_only)
    status = run.status
    if status in ("queued", "running"):
        try:
            status = follower.poll(store, run.run_dir).final or status
        except HostUnreachable as e:
            raise UserError(f"cannot reach the run's host: {e}") from None
    job = launcher.resume(store, run.run_dir, str(status))
    return Resumed(started(run.run_dir), str(status), job.get("job_id"), job.get("pid"), job.get("host"))


def send_stop(run_dir: Path, *, force: bool = False) -> str:
    """Stop a run wherever it runs (SIGTERM / scancel / qdel; force: SIGKILL); what was sent, in words."""
    try:
        done = launcher.cancel(run_dir, sig="SIGKILL" if force else "SIGTERM")
    except HostUnreachable as e:
        raise UserError(f"cannot reach the run's host to stop it: {e}") from None
    return str(done.get("detail") or "stop sent")


def stop(store: Path, ref: str, *, force: bool = False) -> Stopping:
    """Stop the run `ref` names, unless it has already ended."""
    run = locate(store, ref)
    if run.ended:
        return Stopping(run, None)
    return Stopping(run, send_stop(run.run_dir, force=force))


def wait_final(store: Path, run_dir: Path, seconds: float, *, on_disconnect: OnDisconnect | None = None) -> str | None:
    """Wait up to `seconds` for a stopped run's final status (None when it has not ended by then)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            p = follower.poll(store, run_dir)
        except HostUnreachable as e:
            if on_disconnect is not None:
                on_disconnect(str(e))
            time.sleep(2)
            continue
        if p.final is not None:
            return p.final
        time.sleep(0.5)
    return None
