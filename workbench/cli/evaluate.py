"""`workbench eval`: evaluate a model without training it (workbench.actions.evaluate), followed live as a
run (cli/live)."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command, set_flag, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "eval", "Evaluate a model without training it: a finished run's adapter or model, or any model source "
                 "(hub id, local or merged folder), on a recipe's data; recorded as a run of kind eval.", _eval)
    sp.add_argument("model", help="a run id / unique prefix or suffix / 'last' (or run:ID), or a model source: hub id, folder, "
                    "tiny:<arch>")
    sp.add_argument("recipe", nargs="?", help="the recipe whose data (validation and test splits) to score on; "
                    "default for a run: its own recipe")
    set_flag(sp, "data.test_file=new.csv")
    sp.add_argument("--name", help="name of the evaluation run (default: the recipe's name + '-eval')")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")


def _eval(args: argparse.Namespace) -> int:
    from workbench.actions.evaluate import start_eval
    from workbench.cli.live import follow_and_report, say_step
    from workbench.console import console

    store = store_of(args)
    started = start_eval(store, args.model, args.recipe, args.overrides, name=args.name, on_step=say_step(args.quiet))
    run_dir = started.run.run_dir
    console.print(f"evaluation [bold]{run_dir.name}[/] of {started.source} started; folder {run_dir}")
    return follow_and_report(store, run_dir, quiet=args.quiet, ctrl_c="stop")
