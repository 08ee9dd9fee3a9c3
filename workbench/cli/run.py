"""`workbench run`: validate a recipe, start it (or a sweep), follow it and print the result; the work is
workbench.actions.launch's (plan_run, dry_run, start_run, plan_sweep, start_sweep), following is cli/live's."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command, launch_flags, set_flag
from workbench.errors import UserError


def register(sub: Subparsers) -> None:
    sp = command(sub, "run", "Validate a recipe, start it, follow it live, and print base vs tuned metrics.", _run)
    sp.add_argument("recipe", nargs="?", help="recipe .toml file, or a shipped recipe's name (e.g. "
                    "demo/encoder_multilabel); or --from RUN")
    sp.add_argument("--from", dest="from_run", metavar="RUN", help="start from this run's frozen recipe (run id, "
                    "unique prefix or suffix, or 'last'; its description says where it came from); --set changes it")
    set_flag(sp, "lora.r=32")
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


def launch_overrides(args: argparse.Namespace) -> list[str]:
    """`--gpus 4`, `--partition gpu`, ...: the [launch] knobs as flags, applied like --set."""
    from workbench.recipe.schema import knobs_in

    out = list(args.overrides)
    for knob in knobs_in("launch"):
        value = getattr(args, f"launch_{knob.key}", None)
        if value is not None:
            out.append(f"{knob.name}={value}")
    return out


def _recipe_of(args: argparse.Namespace, overrides: list[str]) -> tuple[str, str | None, str | None]:
    """The recipe to load, the command line to record and the run it comes from: the RECIPE argument, or with
    --from the run's frozen recipe, its origin's changes put before `overrides` (so a --set of the user's wins)."""
    import shlex

    from workbench.cli.parsing import store_of

    if args.from_run is None:
        if args.recipe is None:
            raise UserError("workbench run: give a recipe (a .toml file or a shipped recipe's name) or --from RUN")
        return args.recipe, None, None
    if args.recipe is not None:
        raise UserError(f"workbench run: give a recipe ({args.recipe}) or --from RUN ({args.from_run}), not both")
    from workbench.actions.clone import run_origin

    origin = run_origin(store_of(args), args.from_run)
    command = shlex.join(["workbench", "run", "--from", origin.run_id, *sum((["--set", o] for o in overrides), []),
                          *sum((["--sweep", o] for o in args.sweeps), [])])
    overrides[:0] = origin.overrides
    return str(origin.recipe_path), command, origin.run_id


def _run(args: argparse.Namespace) -> int:
    from workbench.actions import launch
    from workbench.cli.live import report_started_and_follow, say_step
    from workbench.cli.parsing import store_of
    from workbench.console import console

    overrides = launch_overrides(args)
    if args.name:
        overrides.append(f"name={args.name}")
    recipe, command, origin = _recipe_of(args, overrides)
    plan = launch.plan_run(store_of(args), recipe, overrides, args.sweeps, seeds=args.seeds,
                           parallel=args.parallel or 1, command=command)
    if args.dry_run:
        shown = launch.dry_run(plan)
        print(f"# recipe {plan.recipe.name} is valid; target {plan.recipe.launch.target}; nothing was started")
        if origin:
            print(f"# from the frozen recipe of run {origin}")
        for line in shown.notes:
            print(f"# {line}")
        print(shown.script)
        return 0
    say = say_step(args.quiet)
    if not plan.is_sweep:
        return report_started_and_follow(plan.store, launch.start_run(plan, on_step=say), detach=args.detach,
                                         quiet=args.quiet)
    sweep = launch.plan_sweep(plan)
    target = plan.recipe.launch.target
    console.print(f"{sweep.kind} [bold]{sweep.group}[/]: {len(sweep.recipes)} runs ({sweep.description}) on {target}"
                  + (f", {plan.parallel} at a time" if plan.parallel > 1 else ""))
    if args.detach and not target.scheduler:
        raise UserError("a sweep (seeds / methods / [sweep]) with --detach needs a slurm or pbs target (here the "
                        "runs go one after another)")
    codes: list[int] = []

    def follow(run: launch.Started) -> bool:  # Ctrl-C (130) stops a local sweep
        codes.append(report_started_and_follow(plan.store, run, detach=args.detach, quiet=args.quiet))
        return codes[-1] != 130

    launch.start_sweep(plan, sweep, follow, on_step=say)
    console.print(f"group {sweep.group}: `workbench compare --group {sweep.group}`")
    return max(codes, key=lambda c: (c != 0, c))
