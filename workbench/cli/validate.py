"""`workbench validate` and `workbench schema`: check recipes; the knob reference."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "validate", "Check recipes (schema, data files, model source) without running them.", _validate)
    sp.add_argument("recipes", nargs="+", help="recipe .toml files, or shipped recipes' names")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")

    sp = command(sub, "schema", "Print the recipe reference (every knob: type, range, default, help).", _schema)
    sp.add_argument("--markdown", action="store_true")


def _validate(args: argparse.Namespace) -> int:
    from workbench.commands.validate import main

    return int(main(args) or 0)


def _schema(args: argparse.Namespace) -> int:
    from workbench.commands.validate import schema

    return int(schema(args) or 0)
