"""Creating run folders: the frozen recipe and run.json that every launcher starts from; and the run.json
updates every starter and stopper of a run makes (the launcher, the tune worker: neither repeats them)."""

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


def update_meta(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Set `fields` in the run's run.json (None: left as it is); the run.json now."""
    meta = rundir.read_run_meta(run_dir)
    meta.update({k: v for k, v in fields.items() if v is not None})
    write_run_meta(run_dir, meta)
    return meta


def record_job_meta(run_dir: Path, job_dir: str, job: dict[str, Any]) -> None:
    """The started job in run.json: where it runs, its pid or job id, its host (what `stop` and the reckoners
    find it by)."""
    update_meta(run_dir, job_dir=job_dir, pid=job.get("pid"), job_id=job.get("job_id"), job_host=job.get("host"))


def request_stop(run_dir: Path) -> None:
    """A user's stop, recorded before the job is signalled: the run then ends cancelled, not failed."""
    update_meta(run_dir, stop_requested_at=time.time())
