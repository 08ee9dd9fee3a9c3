"""`workbench validate` and `workbench schema`: check recipes; the knob reference
(workbench.actions.validate does the work; this module prints it)."""

from __future__ import annotations

import argparse
import sys

from workbench.cli.parsing import Subparsers, command, set_flag


def register(sub: Subparsers) -> None:
    sp = command(sub, "validate", "Check recipes (schema, data files, model source) without running them.", _validate)
    sp.add_argument("recipes", nargs="+", help="recipe .toml files, or shipped recipes' names")
    set_flag(sp)

    sp = command(sub, "schema", "Print the recipe reference (every knob: type, range, default, help).", _schema)
    sp.add_argument("--markdown", action="store_true")


def _validate(args: argparse.Namespace) -> int:
    from workbench.actions.validate import validate_recipes

    failed = 0
    for result in validate_recipes(args.recipes, args.overrides):
        if result.error is not None or result.recipe is None:
            print(f"error: {result.error}", file=sys.stderr)
            failed += 1
            continue
        recipe = result.recipe
        print(f"ok  {result.path}: {recipe.name} ({recipe.task}, {recipe.model.source}, {recipe.model.method}; "
              f"{result.splits})")
        if result.note:
            print(result.note, file=sys.stderr)
    return 2 if failed else 0


def _schema(args: argparse.Namespace) -> int:
    from workbench.actions.validate import knob_reference

    print(knob_reference(markdown=args.markdown))
    return 0
