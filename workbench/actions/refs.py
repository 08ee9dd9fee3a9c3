"""Run references: a run id from what a user types (an id, a unique prefix or suffix, 'last') and the
run's folder; shared by every action that takes a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench import rundir
from workbench.errors import UserError
from workbench.store import read
from workbench.store.db import connect, runs_root

if TYPE_CHECKING:
    from workbench.recipe import Recipe


def resolve_run(con, ref: str) -> str:
    """A run id from an exact id, a unique prefix or suffix (the short ids the app shows), or 'last'
    (the most recently created)."""
    if ref == "last":
        latest = read.latest_run_id(con)
        if latest is None:
            raise UserError("the store has no runs yet")
        return latest
    return pick_run(ref, read.run_ids_matching(con, ref), f"no run {ref!r} in the store (see `workbench runs`; "
                    "`workbench sync` rebuilds the store from the run folders)")


def pick_run(ref: str, ids: list[str], missing: str) -> str:
    """The one run id of `ids` (those `ref` names, rundir.ids_matching); `missing` when there is none.
    An empty reference (an unset shell variable) is refused: as a prefix it would name every run."""
    if not ref.strip():
        raise UserError("empty run reference: give a run id, its unique start or end, or 'last'")
    if ref in ids:
        return ref
    if not ids:
        raise UserError(missing)
    if len(ids) > 1:
        raise UserError(f"run {ref!r} is ambiguous: {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}")
    return ids[0]


def find_run_dir(store: Path, run_id: str, *, read_only: bool = True) -> Path | None:
    """A run's folder: where the store recorded it, else runs/<id> beside the store; None when neither
    is there. `read_only=False` inside the app's process (DuckDB refuses a read-only connection beside
    its read-write ones). An id that is no run id (a store filled before ingestion checked them) is
    refused: it never becomes a path."""
    rundir.check_run_id(run_id)
    with connect(store, read_only=read_only) as con:
        recorded = read.run_dir_recorded(con, run_id)
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    guess = runs_root(store) / run_id
    return guess if guess.is_dir() else None


def run_dir_of(store: Path, run_id: str, *, read_only: bool = True) -> Path:
    """find_run_dir, refusing (UserError) when the folder is not on this machine."""
    found = find_run_dir(store, run_id, read_only=read_only)
    if found is None:
        with connect(store, read_only=read_only) as con:
            recorded = read.run_dir_recorded(con, run_id)
        raise UserError(f"run folder of {run_id} not found ({recorded or runs_root(store) / run_id})")
    return found


def completed_run(store: Path, ref: str, needs: str, *, read_only: bool = True) -> tuple[str, Path, Recipe]:
    """(run id, run folder, frozen recipe) of the completed run `ref` names; `needs` names the
    action for the error when the run is not completed; `read_only` as in find_run_dir."""
    from workbench.recipe import load_recipe

    with connect(store, read_only=read_only) as con:
        run_id = resolve_run(con, ref)
        status = read.run_status(con, run_id)
    if status != "completed":
        raise UserError(f"run {run_id} is {status}; {needs} needs a completed run")
    run_dir = run_dir_of(store, run_id, read_only=read_only)
    return run_id, run_dir, load_recipe(run_dir / rundir.RECIPE)
