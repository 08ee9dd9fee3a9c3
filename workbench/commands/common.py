"""Helpers shared by commands: the store's location and resolving run ids."""

from __future__ import annotations

from pathlib import Path

from workbench import rundir
from workbench.errors import UserError
from workbench.store import read
from workbench.store.db import connect, runs_root, store_path


def store_of(args) -> Path:
    return store_path(getattr(args, "store", None))


def resolve_run(con, ref: str) -> str:
    """A run id from an exact id, a unique prefix or suffix (the short ids the app shows), or 'last'
    (the most recently created). An empty reference (an unset shell variable) matches no run: as a
    prefix it would match every one."""
    if not ref.strip():
        raise UserError("empty run reference: give a run id, its unique start or end, or 'last'")
    if ref == "last":
        latest = read.latest_run_id(con)
        if latest is None:
            raise UserError("the store has no runs yet")
        return latest
    ids = read.run_ids_matching(con, ref)
    if ref in ids:
        return ref
    if not ids:
        raise UserError(f"no run {ref!r} in the store (see `workbench runs`; `workbench sync` rebuilds the store "
                        "from the run folders)")
    if len(ids) > 1:
        raise UserError(f"run {ref!r} is ambiguous: {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}")
    return ids[0]


def run_dir_of(store: Path, run_id: str, *, read_only: bool = True) -> Path:
    """A run's folder: where the store recorded it, else runs/<id> beside the store. `read_only=False`
    inside the app's process (DuckDB refuses a read-only connection beside its read-write ones). An id
    that is no run id (a store filled before ingestion checked them) never becomes a path."""
    rundir.check_run_id(run_id)
    with connect(store, read_only=read_only) as con:
        recorded = read.run_dir_recorded(con, run_id)
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    guess = runs_root(store) / run_id
    if guess.is_dir():
        return guess
    raise UserError(f"run folder of {run_id} not found ({recorded or guess})")


def completed_run(args, needs: str):
    """(run id, run folder, frozen recipe) of the completed run `args.run`; `needs` names the
    command for the error when the run is not completed."""
    from workbench.recipe import load_recipe

    store = store_of(args)
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, args.run)
        status = read.run_status(con, run_id)
    if status != "completed":
        raise UserError(f"run {run_id} is {status}; {needs} needs a completed run")
    run_dir = run_dir_of(store, run_id)
    return run_id, run_dir, load_recipe(run_dir / rundir.RECIPE)
