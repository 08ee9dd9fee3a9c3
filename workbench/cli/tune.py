"""`workbench tune RECIPE`: a hyperparameter search on Optuna, each trial a run of one group
(workbench/actions/tune.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.parsing import Subparsers, command, set_flag, store_of

if TYPE_CHECKING:
    from workbench.actions.tune import TrialLine, Tuning


def register(sub: Subparsers) -> None:
    sp = command(sub, "tune", "Search the recipe's knobs for the best model within a budget (Optuna: TPE, pruning "
                 "by epoch); each trial is a run of one group; the best trial's recipe is written at the end.", _tune)
    sp.add_argument("recipe", help="a recipe file or a shipped recipe's name")
    set_flag(sp, "train.epochs=5")
    sp.add_argument("--space", action="append", default=[], metavar="KEY=LO..HI|KEY=a,b,c",
                    help="a knob to search (repeatable; adds to [tune.space]): a range (log scale for rates) or a "
                    "list of values, e.g. --space train.learning_rate=1e-5..1e-3 --space lora.r=8,16,32")
    sp.add_argument("--trials", type=int, metavar="N", help="trials in the study (default tune.trials); running "
                    "tune again on its group continues it up to N")
    sp.add_argument("--timeout", type=int, metavar="S", help="no new trial after S seconds (default tune.timeout)")
    sp.add_argument("--parallel", type=int, default=1, metavar="K", help="K trials side by side: each on its own "
                    "cores, or its own GPU(s) where there are GPUs")
    sp.add_argument("--group", metavar="G", help="the study's group (default the recipe's group, else "
                    "NAME-tune-TIME); an existing study of G is continued")
    sp.add_argument("--output", type=Path, metavar="PATH", help="where the best trial's recipe goes (default "
                    "./NAME.tuned.toml)")


def _tune(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from workbench.actions.tune import finish_tune, plan_tune, start_tune
    from workbench.console import STATUS_STYLE, console
    from workbench.wording import fmt

    plan = plan_tune(store_of(args), args.recipe, overrides=args.overrides, space=args.space, trials=args.trials,
                     timeout=args.timeout, parallel=args.parallel, group=args.group, output=args.output)
    tuning = start_tune(plan)
    knobs = ", ".join(plan.space)
    console.print(f"tune {'study' if tuning.created else 'continuing study'} {plan.group}: {plan.trials} trials, "
                  f"{len(plan.devices)} at a time, {plan.metric} over {knobs}; journal {plan.storage}", soft_wrap=True)

    def said(t: TrialLine) -> None:
        values = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        metric = f"{plan.metric} {fmt(t.value)}" if t.value is not None else ""
        why = f" ({escape(t.why)})" if t.why and t.state != "completed" else ""
        console.print(f"trial {t.number}  [{STATUS_STYLE.get(t.state, '')}]{t.state}[/]  {metric}  {escape(values)}"
                      f"  run {t.run_id or '-'}{why}", soft_wrap=True)

    stopped = follow_or_stop(tuning, said)
    done = finish_tune(tuning)  # after a stop too: the best recipe so far is the study's result (review M6)
    saved = f"; pruning saved {done.epochs_saved:.0%} of the epochs" if done.epochs_saved is not None else ""
    best = (f"best {done.metric} {fmt(done.best_value)} (trial {done.best_number})" if done.best_number is not None
            else "no trial completed, so no recipe is written")
    console.print(f"{done.completed} completed, {done.pruned} pruned, {done.failed} failed; {best}{saved}",
                  soft_wrap=True)
    if done.best_path is not None:
        console.print(str(done.best_path), soft_wrap=True)
    return 130 if stopped else 0 if done.best_path is not None else 1


def follow_or_stop(tuning: Tuning, said: Callable[[TrialLine], None]) -> bool:
    """Follow the study until its workers end; Ctrl-C or SIGTERM (`kill`, a scheduler) stops them instead,
    and a second one kills them and their trials' runs at once (review M8, M9). True when stopped."""
    import signal
    import threading

    from rich.markup import escape

    from workbench.actions.tune import STOP_WAIT_S, follow_tune, stop_tune
    from workbench.console import console

    forced, stopping = threading.Event(), threading.Event()

    def on_stop(signum, frame):
        if stopping.is_set():
            forced.set()  # the second: stop_tune kills at once
            return
        stopping.set()
        raise KeyboardInterrupt

    before = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            follow_tune(tuning, said, on_warning=lambda w: console.print(f"[yellow]warning:[/] {escape(w)}"))
            stopping.set()  # the workers are done: a signal from here on only hurries the end
            return False
        except KeyboardInterrupt:
            stopping.set()
            console.print(f"stopping the trials (up to {STOP_WAIT_S:.0f} s; Ctrl-C again kills them at once)")
            if stop_tune(tuning, forced=forced.is_set):
                console.print("[yellow]killed the workers and their trials' runs (SIGKILL)[/]")
            return True
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
