"""`workbench init [DIR]`: copy the shipped recipes (with their demo data, prompts and templates)
into DIR/recipes, to edit and run as one's own."""

from __future__ import annotations

import shutil
from pathlib import Path

from workbench.console import console
from workbench.errors import UserError
from workbench.recipe.catalog import SHIPPED_DIR


def main(args) -> int:
    dest = Path(args.dir).expanduser() / "recipes"
    files = sorted(p for p in SHIPPED_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    targets = [(f, dest / f.relative_to(SHIPPED_DIR)) for f in files]
    existing = [t for _, t in targets if t.exists()]
    if existing and not args.force:
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
    recipes = [t for _, t in targets if t.suffix == ".toml"]
    console.print(f"wrote {len(recipes)} recipes and {len(targets) - len(recipes)} data / prompt / template files "
                  f"to {dest}")
    demo = dest / "demo" / "encoder_multilabel.toml"
    console.print(f"next: workbench run {demo.relative_to(Path.cwd()) if demo.is_relative_to(Path.cwd()) else demo}"
                  "   (offline, CPU, about a minute)")
    return 0
