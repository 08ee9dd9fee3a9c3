"""The study's result as a recipe: the best trial's values set in a copy of the source recipe file, written
through the path that copies and edits recipes elsewhere (`workbench/recipe/catalog.py` duplicate: tomlkit,
the source's comments and layout kept, relative data paths rewritten for the new folder), under a header
comment that says which study, which trial and what it scored.

`workbench run` of it reproduces the trial: the trial's recipe was the source's with these values and its
group. The group is not written (a reproduction is a run of its own, not a trial of the study), nor is the
[tune] table dropped: `workbench run` reads none of it, and `workbench tune` of the tuned file searches the
same space again from the best values (its trial 0)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.recipe import Recipe, update_recipe_file, write_frozen
from workbench.recipe.catalog import duplicate

# Knobs a trial's recipe sets that are the study's, not the model's.
NOT_WRITTEN = ("group",)


def changed_values(frozen: Recipe, source: Recipe) -> dict[str, Any]:
    """What a trial's frozen recipe (its run folder's) has otherwise than `source`: set in the source's file,
    they make the recipe the trial ran (but its name and the study's knobs: NOT_WRITTEN)."""
    return {k: v for k, v in frozen.values.items()
            if k not in (*NOT_WRITTEN, "name") and source.values.get(k) != v}


def header(*, study: str, trial: int, metric: str, value: float, source: str) -> str:
    return (f"Tuned by `workbench tune`: the best trial of study {study}, trial {trial}, {metric} = {value:.4g} "
            f"on validation.\nThe source recipe is {source}; the trial's values are set below, the rest is its own.")


def write_best(recipe_path: Path | None, recipe: Recipe, values: Mapping[str, Any], *, study: str, trial: int,
               metric: str, value: float, output: Path) -> Path:
    """Write the best trial's recipe to `output` (replacing a file there: the study's best so far) and
    return its path. `values`: the trial's knob values as recipe values (tune/space.py trial_recipe_values).
    Without a source file (a recipe built in memory) every knob is written, as a run folder's recipe is."""
    values = {k: v for k, v in values.items() if k not in NOT_WRITTEN}
    name = f"{recipe.name}-tuned"
    text = header(study=study, trial=trial, metric=metric, value=value,
                  source=str(recipe_path) if recipe_path is not None else f"recipe {recipe.name} (no file)")
    output = output.expanduser().absolute()
    # Beside the output, so its relative data paths are rewritten for the output's folder; then moved
    # over it at once: a study's best replaces the last one whole.
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        if recipe_path is None:
            write_frozen(recipe.single({**values, "name": name}), partial, text)
        else:
            duplicate(recipe_path, partial, name)
            if values:
                update_recipe_file(partial, dict(values))
            comment = "".join(f"# {line}\n" for line in text.splitlines())
            partial.write_text(comment + "\n" + partial.read_text(encoding="utf-8"), encoding="utf-8")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output
