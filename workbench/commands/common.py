"""Helpers shared by commands: the store's location and resolving run ids."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import UserError
from workbench.store.db import connect, runs_root, store_path


def store_of(args) -> Path:
    return store_path(getattr(args, "store", None))


def resolve_run(con, ref: str) -> str:
    """A run id from an exact id, a unique prefix, or 'last' (the most recently created)."""
    if ref == "last":
        row = con.execute("SELECT run_id FROM runs ORDER BY created_at DESC NULLS LAST LIMIT 1").fetchone()
        if not row:
            raise UserError("the store has no runs yet")
        return row[0]
    rows = con.execute("SELECT run_id FROM runs WHERE run_id = ? OR starts_with(run_id, ?) ORDER BY run_id",
                       [ref, ref]).fetchall()
    ids = [r[0] for r in rows]
    if ref in ids:
        return ref
    if not ids:
        raise UserError(f"no run {ref!r} in the store (see `workbench runs`; `workbench sync` rebuilds the store "
                        "from the run folders)")
    if len(ids) > 1:
        raise UserError(f"run {ref!r} is ambiguous: {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}")
    return ids[0]


def run_dir_of(store: Path, run_id: str) -> Path:
    with connect(store, read_only=True) as con:
        row = con.execute("SELECT run_dir FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row and row[0] and Path(row[0]).is_dir():
        return Path(row[0])
    guess = runs_root(store) / run_id
    if guess.is_dir():
        return guess
    raise UserError(f"run folder of {run_id} not found ({row[0] if row else guess})")


def completed_run(args, needs: str):
    """(run id, run folder, frozen recipe) of the completed run `args.run`; `needs` names the
    command for the error when the run is not completed."""
    from workbench.recipe import load_recipe

    store = store_of(args)
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, args.run)
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    if status != "completed":
        raise UserError(f"run {run_id} is {status}; {needs} needs a completed run")
    run_dir = run_dir_of(store, run_id)
    return run_id, run_dir, load_recipe(run_dir / "recipe.toml")
