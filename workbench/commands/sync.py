"""`workbench sync`: ingest every run folder into the store (rebuilding it if it was deleted),
fetch what remote runs wrote since, and settle runs that ended (also those
that died without an `end` event). A folder that cannot be taken as a run (a corrupt run.json or
recipe.toml, a run id workbench never makes, an event file that cannot be read) is skipped with one
warning line; the rest go in. A run that cannot be settled now (its host does not answer, its frozen
recipe no longer loads, the store is busy) is said in one line and left as recorded; the others are
settled."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from workbench.commands.common import store_of
from workbench.console import console
from workbench.errors import UserError
from workbench.launch import follow as follower
from workbench.launch.follow import FINAL
from workbench.launch.hosts import HostUnreachable
from workbench.rundir import RUN_META, RunFolderError, folder_fault, remove_leftovers
from workbench.store.db import connect, runs_root
from workbench.store.ingest import ingest_run


def main(args) -> int:
    store = store_of(args)
    root = runs_root(store)
    # `*` matches one folder level: runs/.trash/<id>/ (deleted runs, `workbench rm`) is never listed
    dirs = sorted(p.parent for p in root.glob(f"*/{RUN_META}")) if root.is_dir() else []
    new_events, settled, taken = ingest_folders(store, dirs)
    shown = f"{taken} of {len(dirs)}" if taken < len(dirs) else f"{len(dirs)}"
    console.print(f"synced {shown} run folders from {root}: {new_events} new events"
                  + (f", {settled} ended runs settled" if settled else ""))
    return 0


def ingest_folders(store: Path, dirs: list[Path]) -> tuple[int, int, int]:
    """Ingest run folders and settle those that ended (`sync`, and `rm --undo` for a restored run);
    (events stored, runs settled, folders taken). A folder that is not a run is skipped with one line."""
    new_events = settled = taken = 0
    with connect(store) as con:
        unfinished = []  # only the folders: a run's events are let go once stored
        for d in dirs:
            remove_leftovers(d)  # half-written JSON a killed or disk-full writer left (rundir.py)
            try:
                res = ingest_run(con, d)
            except (RunFolderError, OSError) as e:  # not any UserError: a bad setting here stops sync
                why = folder_fault(e, d)
                if why is None:
                    raise
                console.print(f"[yellow]warning:[/] skipped {escape(why)}", soft_wrap=True)
                continue
            taken += 1
            for w in res.warnings:
                console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
            new_events += res.stored
            if res.status not in FINAL:
                unfinished.append(d)
    for d in unfinished:
        try:  # one poll: copies what a remote run wrote since, and settles runs that are over
            if follower.poll(store, d).final is not None:
                settled += 1
        except HostUnreachable as e:
            console.print(f"[yellow]warning:[/] {d.name}: {e}")
        except (UserError, OSError) as e:
            why = folder_fault(e, d)
            if why is None:
                raise
            console.print(f"[yellow]warning:[/] {escape(why)}; its status is left as recorded", soft_wrap=True)
    return new_events, settled, taken
