"""Creating run folders: the frozen recipe and run.json that every launcher starts from."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.errors import UserError
from workbench.recipe import Recipe, write_frozen
from workbench.rundir import new_run_id, write_run_meta


def create_run(recipe: Recipe, runs_root: Path, *, target: str = "local", command: str = "",
               meta: dict[str, Any] | None = None) -> Path:
    """Make runs/<run_id>/ with recipe.toml (frozen, resolved) and run.json.

    Fails cleanly (UserError) when the folder cannot be written, leaving nothing half-made.
    """
    run_id = new_run_id(recipe.name)
    run_dir = runs_root / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise UserError(f"cannot create the run folder ({e.strerror})", path=run_dir) from None
    try:
        header = (f"Frozen recipe of run {run_id}: every knob resolved, paths absolute.\n"
                  f"From: {recipe.path}\nRe-run with: workbench run {run_dir / rundir.RECIPE}")
        write_frozen(recipe, run_dir / rundir.RECIPE, header)
        write_run_meta(run_dir, {
            "run_id": run_id, "recipe_name": recipe.name, "recipe_path": str(recipe.path or ""),
            "target": target, "group": recipe.view.group, "created_at": time.time(),
            "host": socket.gethostname(), "user": os.environ.get("USER", ""), "command": command,
            **(meta or {}),
        })
    except OSError as e:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError(f"cannot write the run folder ({e.strerror})", path=run_dir) from None
    return run_dir
