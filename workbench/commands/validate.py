"""`workbench validate` and the pre-flight every launch goes through: recipe schema, data
files, model source. All before any model loads; problems are one line, exit status 2."""

from __future__ import annotations

import sys

from workbench.data.splits import Splits, load_splits
from workbench.errors import UserError
from workbench.launch.targets import parse_target
from workbench.models.source import check_source
from workbench.recipe import Recipe, load_recipe


def preflight(path: str, overrides: list[str] = ()) -> tuple[Recipe, Splits]:
    recipe = load_recipe(path, overrides)
    try:
        if parse_target(recipe["launch.target"]).remote and not recipe["model.source"].startswith("tiny:"):
            pass  # a path or hub cache on the remote host: the launch checks it there, before uploading
        else:
            check_source(recipe["model.source"])
    except UserError as e:
        raise UserError(str(e), path=path, line=recipe.line_of("model.source")) from None
    splits = load_splits(recipe.values)
    return recipe, splits


def main(args) -> int:
    failed = 0
    for path in args.recipes:
        try:
            recipe, splits = preflight(path, args.overrides)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        test = f", {len(splits.test)} test" if splits.test else ""
        print(f"ok  {path}: {recipe.name} ({recipe['task']}, {recipe['model.source']}, {recipe['model.method']}; "
              f"{len(splits.train)} train, {len(splits.validation)} validation{test} rows, "
              f"{len(splits.train.label_names)} labels)")
    return 2 if failed else 0


def schema(args) -> int:
    from workbench.recipe import schema as s

    if args.markdown:
        print(s.markdown_table())
        return 0
    for k in s.KNOBS:
        default = "(required)" if k.required else repr(k.default)
        print(f"{k.name:34} {k.expected():40} default {default}\n    {k.help}")
    return 0
