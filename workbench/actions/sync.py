"""`workbench sync`: ingest every run folder into the store (rebuilding it if it was deleted), fetch
what remote runs wrote since, and settle runs that ended (also those that died without an `end`
event); `rm --undo` ingests a restored folder the same way. A folder that cannot be taken as a run (a
corrupt run.json or recipe.toml, a run id workbench never makes, an event file that cannot be read)
is skipped with one warning line; the rest go in. A run that cannot be settled now (its host does
not answer, its frozen recipe no longer loads, the store is busy) is said in one line and left as
recorded; the others are settled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.events import FINAL_STATUSES
from workbench.launch import follow as follower
from workbench.launch.hosts import HostUnreachable
from workbench.rundir import RUN_META, RunFolderError, folder_fault, remove_leftovers
from workbench.store.db import connect, runs_root
from workbench.store.ingest import ingest_run


@dataclass(frozen=True)
class Ingested:
    """What ingest_folders did: `events` stored, `settled` runs that ended, `taken` folders of those
    given (the others skipped, each said in `warnings`, with what ingesting or settling a run warned)."""

    events: int
    settled: int
    taken: int
    warnings: list[str]


def ingest_folders(store: Path, dirs: list[Path]) -> Ingested:
    """Ingest run folders and settle those that ended (`sync`, and `rm --undo` for a restored run)."""
    events = settled = taken = 0
    warnings: list[str] = []
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
                warnings.append(f"skipped {why}")
                continue
            taken += 1
            warnings += res.warnings
            events += res.stored
            if res.status not in FINAL_STATUSES:
                unfinished.append(d)
    for d in unfinished:
        try:  # one poll: copies what a remote run wrote since, and settles runs that are over
            if follower.poll(store, d).final is not None:
                settled += 1
        except HostUnreachable as e:
            warnings.append(f"{d.name}: {e}")
        except (UserError, OSError) as e:
            why = folder_fault(e, d)
            if why is None:
                raise
            warnings.append(f"{why}; its status is left as recorded")
    return Ingested(events, settled, taken, warnings)


@dataclass(frozen=True)
class Synced:
    """What sync_store did: the run folders found under `root` and what ingesting them did."""

    root: Path
    folders: int
    ingested: Ingested


def sync_store(store: Path) -> Synced:
    """Ingest every run folder under runs/ beside the store (never runs/.trash/, the deleted runs)."""
    root = runs_root(store)
    # `*` matches one folder level: runs/.trash/<id>/ (deleted runs, `workbench rm`) is never listed
    dirs = sorted(p.parent for p in root.glob(f"*/{RUN_META}")) if root.is_dir() else []
    return Synced(root, len(dirs), ingest_folders(store, dirs))
