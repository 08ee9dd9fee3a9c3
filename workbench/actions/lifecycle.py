"""A run's life after it ends, for `workbench tag`, `note`, `archive`, `rm` (and `rm --undo`), `gc` (and
`gc --trash`), and the app's tag / note / archive / delete / gc.

Tags, notes and the archived mark are written to the run folder's annotations.json first (the
folder is the unit of truth: `workbench sync` rebuilds them), then to the store. delete_runs deletes
a run's rows and, unless keep_folder, moves its folder to the trash (runs/.trash/<run_id>/, beside
the other run folders, where `sync` never looks); restore_runs moves it back and ingests it again,
empty_trash empties the trash. gc deletes the checkpoints of completed runs (adapters, models,
reports and predictions stay). Nothing is deleted from a run still going, and every refusal comes
before anything is deleted.

Every function here opens the store read-write (short connections) but resolve_runs, as the app's
own do: DuckDB refuses a read-only connection beside a read-write one in one process
(workbench/tui/store_gate.py).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.actions.refs import find_run_dir, pick_run, resolve_run, run_dir_of
from workbench.actions.sync import ingest_folders
from workbench.errors import UserError
from workbench.launch import reckon
from workbench.store import read, write
from workbench.store.db import connect, runs_root
from workbench.wording import counted, fmt_bytes, runs_count, size_said

CHECKPOINTS = "checkpoints"


def record_ended(store: Path) -> list[str]:
    """What a writing command does first: record the runs that ended unfollowed (launch/reckon.py);
    one line per run folder it could not record (the command goes on)."""
    return reckon.record(store).warnings


def resolve_runs(store: Path, refs: list[str]) -> list[str]:
    """The run ids `refs` name (actions/refs.resolve_run), each once, in order."""
    ids: list[str] = []
    with connect(store, read_only=True) as con:
        for ref in refs:
            rid = resolve_run(con, ref)
            if rid not in ids:
                ids.append(rid)
    return ids


# --- annotations: tags, notes, the archived mark -----------------------------------------------

def annotate(store: Path, run_ids: list[str], change: Callable[[dict[str, Any]], object]) -> None:
    """Apply `change(annotations)` to each run's annotations.json, then to the store."""
    for run_id in run_ids:
        run_dir = run_dir_of(store, run_id, read_only=False)
        annotations = rundir.read_annotations(run_dir)
        change(annotations)
        rundir.write_annotations(run_dir, annotations)
        with connect(store) as con:
            write.write_annotations(con, run_id, annotations)


def parse_tags(items: list[str]) -> dict[str, str]:
    """["key=value", "other="] -> {"key": "value", "other": ""} (an empty value removes the tag)."""
    pairs: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or any(c in key for c in "\n\r\t"):
            raise UserError(f"tag {item!r}: expected key=value (key= removes the tag)")
        pairs[key.strip()] = value.strip()
    return pairs


def set_tags(store: Path, run_ids: list[str], pairs: dict[str, str]) -> None:
    """Set each tag KEY=VALUE of `pairs` on the runs; an empty value removes the tag."""
    def change(a: dict[str, Any]) -> None:
        for k, v in pairs.items():
            if v:
                a["tags"][k] = v
            else:
                a["tags"].pop(k, None)

    annotate(store, run_ids, change)


def add_note(store: Path, run_id: str, text: str) -> None:
    if not text.strip():
        raise UserError("note: give the text of the note")
    annotate(store, [run_id], lambda a: a["notes"].append({"t": time.time(), "text": text.strip()}))


def set_archived(store: Path, run_ids: list[str], archived: bool) -> None:
    def change(a: dict[str, Any]) -> None:
        a["archived"] = archived

    annotate(store, run_ids, change)


# --- deleting runs, the trash ------------------------------------------------------------------

def check_deletable(store: Path, run_ids: list[str]) -> dict[str, str | None]:
    """{run id: status}; refuses (UserError, nothing deleted) when one of them is still going."""
    with connect(store) as con:
        status = {rid: read.run_status(con, rid) for rid in run_ids}
    going = [rid for rid in run_ids if status[rid] in ("queued", "running")]
    if going:
        raise UserError(f"run {going[0]} is {status[going[0]]}: stop it first (`workbench stop {going[0]}`); "
                        "nothing was deleted")
    return status


def trash_of(store: Path) -> Path:
    """runs/.trash/ beside the run folders: where deleted runs' folders wait for `rm --undo` or `gc --trash`."""
    return runs_root(store) / rundir.TRASH_DIR


@dataclass(frozen=True)
class Deleted:
    """What delete_runs did: every run's rows are gone; where its folder went; `trash` the trash folder."""

    trash: Path
    trashed: list[str]     # the folder moved to the trash
    kept: list[str]        # the folder left in place (keep_folder)
    folderless: list[str]  # no folder on this machine: rows deleted for good
    bytes: int             # moved to the trash: what `gc --trash` would free

    def summary(self) -> str:
        """One line for the CLI and the app."""
        parts = []
        if self.trashed:
            parts.append(f"moved {runs_count(len(self.trashed))} to the trash ({self.trash}, {fmt_bytes(self.bytes)}): "
                         "`workbench rm --undo RUN` restores one, `workbench gc --trash` frees the space")
        if self.kept:
            parts.append(f"deleted the store rows of {runs_count(len(self.kept))}, folders kept (`workbench sync` brings "
                         "them back)")
        if self.folderless:
            parts.append(f"deleted the store rows of {runs_count(len(self.folderless))} with no folder on this machine, for "
                         f"good: {', '.join(self.folderless)}")
        return "; ".join(parts)


def delete_runs(store: Path, run_ids: list[str], *, keep_folder: bool = False) -> Deleted:
    """Delete runs: their store rows and, unless keep_folder, move their folders to the trash.

    A folder is found where the store recorded it, else in runs/<id>; one recorded outside runs/ (moved
    there by hand) goes to the trash too and `rm --undo` puts it back where it was. A folder on another
    filesystem than runs/ is refused (moving it would copy it all): `rm --keep-folder` deletes the rows.
    Each folder is moved (one rename) before its rows go: a crash between leaves rows of a trashed
    run, which `rm --undo` restores as well."""
    check_deletable(store, run_ids)
    folders = {rid: find_run_dir(store, rid, read_only=False) for rid in run_ids}
    trash = trash_of(store)
    if not keep_folder and any(folders.values()):
        _check_trashable(trash, folders)
    trashed: list[str] = []
    kept: list[str] = []
    folderless: list[str] = []
    moved = 0
    for i, rid in enumerate(run_ids):
        folder = folders[rid]
        if not keep_folder and folder is not None:
            size = folder_size(folder)  # a stat per file: a checkpoint-heavy folder takes a moment
            try:
                os.rename(folder, trash / rid)
            except OSError as e:
                raise UserError(f"cannot move {folder} to {trash / rid}: {e.strerror or e}"
                                + (f"; moved before it: {', '.join(run_ids[:i])}" if i else "; nothing was deleted"))\
                    from None
            record: dict[str, object] = {"t": time.time()}
            if folder.resolve().parent != trash.resolve().parent:  # not runs/<id>: it goes back there
                record["from"] = str(folder.resolve())
            rundir.write_trashed(trash / rid, record)
            trashed.append(rid)
            moved += size
        else:
            (kept if keep_folder and folder is not None else folderless).append(rid)
        with connect(store) as con:
            write.delete_run(con, rid)
    return Deleted(trash, trashed, kept, folderless, moved)


def _check_trashable(trash: Path, folders: dict[str, Path | None]) -> None:
    """Refuse (before anything is deleted) a folder the trash cannot take with one rename."""
    try:
        trash.mkdir(parents=True, exist_ok=True)
        device = trash.stat().st_dev
    except OSError as e:
        raise UserError(f"cannot make the trash folder ({e.strerror or e}); nothing was deleted", path=trash) from None
    for rid, folder in folders.items():
        if folder is None:
            continue
        if (trash / rid).exists():
            raise UserError(f"the trash already holds a deleted run {rid} ({trash / rid}): `workbench rm --undo {rid}` "
                            "restores it, `workbench gc --trash` empties the trash; nothing was deleted")
        if folder.stat().st_dev != device:
            raise UserError(f"run {rid}'s folder {folder} is on another filesystem than the trash ({trash}): moving "
                            f"it would copy it; `workbench rm --keep-folder {rid}` deletes its store rows only (then "
                            "delete the folder yourself); nothing was deleted")


def trashed_runs(store: Path) -> list[str]:
    """The run ids in the trash, in order."""
    trash = trash_of(store)
    return sorted(p.parent.name for p in trash.glob(f"*/{rundir.RUN_META}")) if trash.is_dir() else []


@dataclass(frozen=True)
class Restored:
    """What restore_runs did: (run id, its folder now) of each run restored, and what ingesting them
    again warned (actions/sync.ingest_folders)."""

    runs: list[tuple[str, Path]]
    warnings: list[str]


def restore_runs(store: Path, refs: list[str]) -> Restored:
    """`rm --undo`: move deleted runs back from the trash (to where they were) and ingest them again
    (the store is rebuilt from the folder, as `sync` does)."""
    inside = trashed_runs(store)
    trash = trash_of(store)
    ids: list[str] = []
    for ref in refs:
        rid = pick_run(ref, rundir.ids_matching(inside, ref),
                       f"run {ref!r} is not in the trash ({trash}"
                       + (f" holds {', '.join(inside[:5])}{' …' if len(inside) > 5 else ''})" if inside else " is empty)"))
        if rid not in ids:
            ids.append(rid)
    places = {rid: Path(rundir.read_trashed(trash / rid).get("from") or runs_root(store) / rid) for rid in ids}
    for rid, dest in places.items():
        if dest.exists():
            raise UserError(f"cannot restore {rid}: {dest} exists (a run folder of that name); nothing was restored")
    restored, warnings = [], []
    for rid, dest in places.items():
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(trash / rid, dest)
        except OSError as e:
            raise UserError(f"cannot move {trash / rid} back to {dest}: {e.strerror or e}") from None
        (dest / rundir.TRASHED).unlink(missing_ok=True)
        warnings += ingest_folders(store, [dest]).warnings
        restored.append((rid, dest))
    return Restored(restored, warnings)


# --- freeing disk space ------------------------------------------------------------------------

@dataclass(frozen=True)
class Collected:
    """What gc did (or, dry_run, would do): (run id, bytes) of each completed run whose checkpoints
    went; `warnings` one line per run folder the recording of ended runs could not record."""

    freed: list[tuple[str, int]]
    dry_run: bool
    warnings: list[str]

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.freed)

    def summary(self) -> str:
        """One line for the CLI and the app."""
        total, runs = self.bytes, len(self.freed)
        if not runs:
            return "nothing to free: no completed run holds checkpoints"
        return (f"{'would free' if self.dry_run else 'freed'} {size_said(total)} of checkpoints in "
                f"{counted(runs, 'completed run')}; adapters, models and reports kept"
                + ("" if self.dry_run else " (failed or interrupted runs keep theirs for `workbench resume`)"))


def gc(store: Path, *, dry_run: bool = False) -> Collected:
    """Delete the checkpoints of completed runs: a finished run keeps its adapter or model (what
    predict, merge and eval read); its checkpoints only served training and resuming. The runs that
    ended unfollowed are recorded first (record_ended)."""
    warnings = record_ended(store)
    with connect(store) as con:
        found = read.runs_with_status(con, "completed")
    freed = []
    for run_id, folder in found:
        ckpt = Path(folder) / CHECKPOINTS if folder else None
        if ckpt is None or not ckpt.is_dir():
            continue
        size = folder_size(ckpt)
        if size == 0 and not any(ckpt.iterdir()):
            continue
        if not dry_run:
            shutil.rmtree(ckpt)
        freed.append((run_id, size))
    return Collected(freed, dry_run, warnings)


@dataclass(frozen=True)
class TrashEmptied:
    """What empty_trash did (or, dry_run, would do): (name, bytes) of each entry of the trash folder
    `trash`, deleted for good (no longer restorable)."""

    trash: Path
    entries: list[tuple[str, int]]
    dry_run: bool

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.entries)


def empty_trash(store: Path, *, dry_run: bool = False) -> TrashEmptied:
    """`gc --trash`: delete the folders of deleted runs (`rm`) for good."""
    trash = trash_of(store)
    entries = sorted(trash.iterdir()) if trash.is_dir() else []
    done = []
    total = 0
    for entry in entries:
        size = folder_size(entry) if entry.is_dir() else entry.stat().st_size
        total += size
        done.append((entry.name, size))
        if dry_run:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as e:
            raise UserError(f"cannot delete {entry} ({e.strerror or e}); freed {fmt_bytes(total - size)} before it") from None
    return TrashEmptied(trash, done, dry_run)


def folder_size(path: Path) -> int:
    """The bytes of the files under `path` (links not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
