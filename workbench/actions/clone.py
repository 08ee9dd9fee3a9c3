"""A new run from an earlier run's frozen recipe: `workbench run --from RUN [--set ...]` and the app's
clone key (a new recipe file written from it, opened in the editor). The frozen recipe (the run folder's
recipe.toml: every knob resolved, paths absolute) is taken as it is, but for what says where a run came
from: its description says `from RUN_ID`, and it joins no group of the earlier run's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from workbench import rundir
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.store.db import connect

_FROM = re.compile(r"^from \S+(: |$)")  # the origin a clone of a clone had: replaced, not stacked


@dataclass(frozen=True)
class Origin:
    """The run a new one starts from: its id, its frozen recipe file, its recipe's name and description."""

    run_id: str
    recipe_path: Path
    name: str
    description: str
    group: str
    holdout_split: str = "stratified"

    @property
    def changes(self) -> dict[str, str]:
        """What a run started from it changes before any --set: the description names the run it came
        from (kept in the run's params), and the earlier run's group is not the new one's."""
        said = _FROM.sub("", self.description)
        # an older run's random holdout (its frozen recipe predates data.holdout_split) is written out, so
        # the new run is judged on the rows the old one was, in a recipe file of its own too
        return {"description": f"from {self.run_id}" + (f": {said}" if said else ""), **({"group": ""} if self.group else {}),
                **({"data.holdout_split": self.holdout_split} if self.holdout_split != "stratified" else {})}

    @property
    def overrides(self) -> list[str]:
        """`changes` as --set items, which the user's own --set items follow (and so override)."""
        return [f"{k}={v}" for k, v in self.changes.items()]


def run_origin(store: Path, ref: str, *, read_only: bool = True) -> Origin:
    """The run `ref` names (an id, a unique prefix or suffix, 'last'), whatever its status, and its frozen
    recipe; a run whose folder or recipe.toml is not on this machine is refused in one line."""
    from workbench.errors import UserError
    from workbench.recipe import load_recipe

    with connect(store, read_only=read_only) as con:
        run_id = resolve_run(con, ref)
    path = run_dir_of(store, run_id, read_only=read_only) / rundir.RECIPE
    if not path.is_file():
        raise UserError(f"run {run_id} has no frozen recipe to start from", path=path)
    recipe = load_recipe(path)
    return Origin(run_id, path, recipe.name, recipe.view.description, recipe.view.group, recipe.data.holdout_split)


def write_recipe(origin: Origin, dest: Path, name: str) -> Path:
    """A new recipe file `dest` named `name`, holding the origin's frozen recipe (its comments and every
    value) with `changes` applied: what the editor opens to change and launch. An existing file is
    refused (FileExistsError), as the recipes screen's duplicate does."""
    from workbench.recipe.load import update_recipe_file

    if dest.exists():
        raise FileExistsError(f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = origin.recipe_path.read_text(encoding="utf-8")
    dest.write_text(f"# a copy of run {origin.run_id}'s frozen recipe (every value as the run had it)\n" + text,
                    encoding="utf-8")
    update_recipe_file(dest, {"name": name, **origin.changes})
    return dest
