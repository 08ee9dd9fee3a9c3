"""`workbench attach RUN`, `workbench resume RUN` and `workbench stop RUN`: follow, continue or cancel a
run wherever it runs."""

from __future__ import annotations

import time

from workbench import rundir
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.commands.common import store_of
from workbench.commands.run import follow_and_report
from workbench.console import console, status_text
from workbench.errors import UserError
from workbench.launch import follow as follower
from workbench.launch import launcher
from workbench.launch.follow import FINAL
from workbench.launch.hosts import HostUnreachable
from workbench.store import read
from workbench.store.db import connect


def _run(args):
    store = store_of(args)
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, args.run)
        status = read.run_status(con, run_id)
    return store, run_id, status, run_dir_of(store, run_id)


def attach(args) -> int:
    """Follow a run again: progress and telemetry live; Ctrl-C only stops following."""
    launcher.check_follow_env()
    store, run_id, status, run_dir = _run(args)
    if status in FINAL:
        console.print(f"run [bold]{run_id}[/] has already ended: ", status_text(status))
        from workbench.commands.run import print_result

        print_result(store, run_id)
        return 0
    console.print(f"attached to [bold]{run_id}[/] ({status}); Ctrl-C detaches, the run goes on")
    return follow_and_report(store, run_dir, quiet=args.quiet, ctrl_c="detach")


def resume(args) -> int:
    """Continue a failed, interrupted or cancelled run from its last complete checkpoint."""
    launcher.check_follow_env()  # before a run left queued / running is settled below
    store, run_id, status, run_dir = _run(args)
    if status in ("queued", "running"):
        # A follower that died may have left it so: settle it from the job's real state first.
        try:
            status = follower.poll(store, run_dir).final or status
        except HostUnreachable as e:
            raise UserError(f"cannot reach the run's host: {e}") from None
    job = launcher.resume(store, run_dir, status)
    where = f"job {job['job_id']}" if job.get("job_id") else f"pid {job.get('pid')}"
    console.print(f"resuming [bold]{run_id}[/] ({status}) as {where} on {job.get('host')}")
    if args.detach:
        console.print(f"detached: `workbench attach {run_id}` follows it")
        return 0
    local = rundir.read_run_meta(run_dir).get("target", "local") == "local"
    return follow_and_report(store, run_dir, quiet=args.quiet, ctrl_c="stop" if local else "detach")


def stop(args) -> int:
    """Cancel a run (kill / scancel / qdel) and wait until its final status is recorded."""
    store, run_id, status, run_dir = _run(args)
    if status in FINAL:
        console.print(f"run [bold]{run_id}[/] has already ended: ", status_text(status))
        return 0
    sig = "SIGKILL" if args.force else "SIGTERM"
    try:
        done = launcher.cancel(run_dir, sig=sig)
    except HostUnreachable as e:
        raise UserError(f"cannot reach the run's host to stop it: {e}") from None
    console.print(f"stopping [bold]{run_id}[/]: {done['detail']}")
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        try:
            p = follower.poll(store, run_dir)
        except HostUnreachable as e:
            console.print(f"[yellow]connection lost:[/] {e}")
            time.sleep(2)
            continue
        if p.final is not None:
            console.print(f"run [bold]{run_id}[/] ", status_text(p.final))
            return 0
        time.sleep(0.5)
    console.print(f"run {run_id} has not ended after {args.wait:.0f} s; `workbench stop --force {run_id}` kills it")
    return 1
