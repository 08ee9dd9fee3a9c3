"""`workbench data`: a recipe's data profiled before training (workbench.actions.data profiles it;
printed as workbench/profile_view.py renders it, or as JSON)."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command, set_flag


def register(sub: Subparsers) -> None:
    sp = command(sub, "data", "Look at a recipe's data before training: per split, rows, label distribution, token lengths "
                 "(with the recipe's tokenizer; rows model.max_length truncates), duplicate texts and train leakage.", _data)
    sp.add_argument("recipe", help="recipe .toml file, or a shipped recipe's name (e.g. demo/encoder_multilabel)")
    set_flag(sp, "data.validation_fraction=0.1")
    sp.add_argument("--json", action="store_true", help="print the profile as one JSON object")


def _data(args: argparse.Namespace) -> int:
    import json
    import sys

    from workbench.actions.data import profile_recipe

    profile = profile_recipe(args.recipe, args.overrides)
    if args.json:
        sys.stdout.write(json.dumps(profile.to_dict(), ensure_ascii=False) + "\n")
        return 0
    from workbench.console import console
    from workbench.profile_view import renderables

    for r in renderables(profile):
        console.print(r)
    return 0
