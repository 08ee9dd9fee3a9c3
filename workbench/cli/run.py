"""`workbench run`: validate a recipe, start it (or a sweep), follow it and print the result."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command, launch_flags


def register(sub: Subparsers) -> None:
    sp = command(sub, "run", "Validate a recipe, start it, follow it live, and print base vs tuned metrics.", _run)
    sp.add_argument("recipe", help="recipe .toml file, or a shipped recipe's name (e.g. demo/encoder_multilabel)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a recipe value (repeatable), e.g. --set lora.r=32")
    sp.add_argument("--detach", action="store_true", help="start the run and return at once (`workbench attach` follows it)")
    sp.add_argument("--dry-run", action="store_true", help="validate and print the exact command or batch script; "
                    "start nothing")
    sp.add_argument("--name", help="the runs' name (run ids start with it; default: the recipe's `name`, else its "
                    "file name)")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")
    sp.add_argument("--seeds", metavar="LIST", help="one run per train.seed, in one group, e.g. 1,2,3 or 0-4: a job "
                    "array on SLURM, one job each on PBS, one after another elsewhere")
    sp.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="SECTION.KEY=V1,V2",
                    help="sweep a knob over these values (repeatable; a grid by default, crossed with seeds and "
                    "methods); LO..HI is a range for sweep.mode=random, [..] a TOML list")
    sp.add_argument("--parallel", type=int, default=1, metavar="K", help="local sweeps: K runs at a time "
                    "(CPU runs; each needs its own cores)")
    launch_flags(sp)


def _run(args: argparse.Namespace) -> int:
    from workbench.commands.run import main

    return int(main(args) or 0)
