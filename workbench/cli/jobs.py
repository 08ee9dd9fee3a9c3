"""`workbench attach`, `resume`, `stop`: follow, continue or cancel a run wherever it runs; the work is
workbench.actions.jobs's, following is cli/live's."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import RUN_HELP, Subparsers, command, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "attach", "Follow a running run again (progress, telemetry); Ctrl-C detaches, the run goes on.", _attach)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = command(sub, "resume", "Continue a failed, interrupted or cancelled run from its last complete checkpoint, on "
                 "the target it ran on; base evaluations already recorded are kept.", _resume)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--detach", action="store_true", help="start it and return at once")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = command(sub, "stop", "Stop a run wherever it runs (signal / scancel / qdel); it ends as cancelled.", _stop)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--force", action="store_true", help="kill at once (SIGKILL / scancel --signal=KILL)")
    sp.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the final status (default 120)")
    sp.add_argument("--no-wait", action="store_true", help="send the stop and return")


def _attach(args: argparse.Namespace) -> int:
    """Follow a run again: progress and telemetry live; Ctrl-C only stops following."""
    from workbench.actions import jobs
    from workbench.cli.live import follow_and_report, print_result
    from workbench.console import console, status_text

    run = jobs.attach(store_of(args), args.run)
    if run.ended:
        console.print(f"run [bold]{run.run_id}[/] has already ended: ", status_text(run.status))
        print_result(store_of(args), run.run_id)
        return 0
    console.print(f"attached to [bold]{run.run_id}[/] ({run.status}); Ctrl-C detaches, the run goes on")
    return follow_and_report(store_of(args), run.run_dir, quiet=args.quiet, ctrl_c="detach")


def _resume(args: argparse.Namespace) -> int:
    """Continue a failed, interrupted or cancelled run from its last complete checkpoint."""
    from workbench.actions import jobs
    from workbench.cli.live import follow_and_report
    from workbench.console import console

    done = jobs.resume(store_of(args), args.run)
    run_id = done.run.run_id
    where = f"job {done.job_id}" if done.job_id else f"pid {done.pid}"
    console.print(f"resuming [bold]{run_id}[/] ({done.previous_status}) as {where} on {done.host}")
    if args.detach:
        console.print(f"detached: `workbench attach {run_id}` follows it")
        return 0
    return follow_and_report(store_of(args), done.run.run_dir, quiet=args.quiet,
                             ctrl_c="stop" if done.run.local else "detach")


def _stop(args: argparse.Namespace) -> int:
    """Cancel a run (kill / scancel / qdel) and wait until its final status is recorded."""
    from workbench.actions import jobs
    from workbench.console import console, status_text

    store = store_of(args)
    asked = jobs.stop(store, args.run, force=args.force)
    run_id = asked.run.run_id
    if asked.detail is None:
        console.print(f"run [bold]{run_id}[/] has already ended: ", status_text(asked.run.status))
        return 0
    console.print(f"stopping [bold]{run_id}[/]: {asked.detail}")
    if args.no_wait:
        return 0
    final = jobs.wait_final(store, asked.run.run_dir, args.wait,
                            on_disconnect=lambda m: console.print(f"[yellow]connection lost:[/] {m}"))
    if final is not None:
        console.print(f"run [bold]{run_id}[/] ", status_text(final))
        return 0
    console.print(f"run {run_id} has not ended after {args.wait:.0f} s; `workbench stop --force {run_id}` kills it")
    return 1
