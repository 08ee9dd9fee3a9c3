"""Copying the shipped recipes out, for `workbench init [DIR]`: the recipes with their demo data, prompts
and templates into DIR/recipes, to edit and run as one's own."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.recipe.catalog import SHIPPED_DIR


@dataclass(frozen=True)
class Initialized:
    """The recipes folder written: how many recipes and other files (data, prompts, templates) it
    received, and the demo recipe to run first."""

    dest: Path
    recipes: int
    other_files: int
    demo: Path


def init(folder: Path, *, force: bool = False) -> Initialized:
    """Copy the shipped recipes into folder/recipes; files already there are refused unless `force`."""
    dest = folder.expanduser() / "recipes"
    files = sorted(p for p in SHIPPED_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    targets = [(f, dest / f.relative_to(SHIPPED_DIR)) for f in files]
    existing = [t for _, t in targets if t.exists()]
    if existing and not force:
        raise UserError(f"{len(existing)} of the {len(targets)} files already exist (e.g. {existing[0]}); "
                        "--force overwrites them", path=dest)
    if dest.exists() and not dest.is_dir():
        raise UserError("exists and is not a folder", path=dest)
    try:
        for src, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    except OSError as e:
        raise UserError(f"cannot copy the shipped recipes: {e.strerror}", path=e.filename or dest) from None
    recipes = sum(1 for _, t in targets if t.suffix == ".toml")
    return Initialized(dest, recipes, len(targets) - recipes, dest / "demo" / "encoder_multilabel.toml")
