"""`workbench attach`, `resume`, `stop`: follow, continue or cancel a run wherever it runs."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "attach", "Follow a running run again (progress, telemetry); Ctrl-C detaches, the run goes on.", _attach)
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = command(sub, "resume", "Continue a failed, interrupted or cancelled run from its last complete checkpoint, on "
                 "the target it ran on; base evaluations already recorded are kept.", _resume)
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--detach", action="store_true", help="start it and return at once")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = command(sub, "stop", "Stop a run wherever it runs (signal / scancel / qdel); it ends as cancelled.", _stop)
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--force", action="store_true", help="kill at once (SIGKILL / scancel --signal=KILL)")
    sp.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the final status (default 120)")
    sp.add_argument("--no-wait", action="store_true", help="send the stop and return")


def _attach(args: argparse.Namespace) -> int:
    from workbench.commands.jobs import attach

    return int(attach(args) or 0)


def _resume(args: argparse.Namespace) -> int:
    from workbench.commands.jobs import resume

    return int(resume(args) or 0)


def _stop(args: argparse.Namespace) -> int:
    from workbench.commands.jobs import stop

    return int(stop(args) or 0)
