"""What every subcommand module of the CLI shares: the parser that answers bad arguments with one line
and exit status 2, `command()` to declare a subcommand with its handler, and the [launch] flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

Handler = Callable[[argparse.Namespace], int]
# A RUN argument's help: what actions/refs.resolve_run accepts (its start or end: the app shows the end).
RUN_HELP = "run id, unique prefix or suffix, or 'last'"
Subparsers = Any  # argparse's _SubParsersAction, private: its add_parser is all the modules use


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit status 2, like every other bad input
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def store_of(args: argparse.Namespace) -> Path:
    """The store --store names (before or after the command), else $WORKBENCH_STORE, else ./runs.duckdb."""
    from workbench.store.db import store_path

    return store_path(getattr(args, "store", None))


def command(sub: Subparsers, name: str, help: str, handler: Handler) -> argparse.ArgumentParser:
    """Declare subcommand `name`; `handler(args)` runs it and returns the exit status. --store and --debug
    are accepted after the command too (`workbench runs --store x.duckdb`)."""
    sp: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    sp.set_defaults(_handler=handler)
    sp.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return sp


def set_flag(sp: argparse.ArgumentParser, example: str | None = None, *, metavar: str = "SECTION.KEY=VALUE",
             help: str | None = None) -> None:
    """--set SECTION.KEY=VALUE (repeatable, into `args.overrides`): a recipe value overridden, as every command
    that loads a recipe takes it; `example` shows one in the help."""
    text = help or (f"override a recipe value (repeatable), e.g. --set {example}" if example else None)
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar=metavar, help=text)


def launch_flags(sp: argparse.ArgumentParser) -> None:
    """Every [launch] knob as a flag (--target, --gpus, --partition, ...), from the one schema."""
    from workbench.recipe.schema import knobs_in

    group = sp.add_argument_group("launch (override the recipe's [launch] section)")
    for knob in knobs_in("launch"):
        metavar = {"int": "N", "float": "SECONDS", "str_list": "A,B"}.get(knob.kind, knob.key.upper())
        group.add_argument(f"--{knob.key.replace('_', '-')}", dest=f"launch_{knob.key}", metavar=metavar,
                           default=None, help=knob.help.replace("%", "%%"))
