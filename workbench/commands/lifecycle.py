"""A run's life after it ends: `tag`, `note`, `archive`, `rm`, `gc`.

Tags, notes and the archived mark are written to the run folder's annotations.json first (the
folder is the unit of truth: `workbench sync` rebuilds them), then to the store. `rm` deletes a
run's rows and, unless --keep-folder, moves its folder to the trash (runs/.trash/<run_id>/, beside
the other run folders, where `sync` never looks); `rm --undo` moves it back and ingests it again,
`gc --trash` empties the trash. `gc` deletes the checkpoints of completed runs (adapters, models,
reports and predictions stay). Nothing is deleted from a run still going, and every refusal comes
before anything is deleted. The app deletes through the same functions.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench import rundir
from workbench.actions.lifecycle import annotate
from workbench.actions.refs import find_run_dir, pick_run, resolve_run
from workbench.commands.common import store_of
from workbench.console import console, runs_count, runs_named
from workbench.errors import UserError
from workbench.launch import reckon
from workbench.store import read, write
from workbench.store.db import connect, runs_root

RUN_STATUSES = ("queued", "running", "completed", "failed", "interrupted", "cancelled")
CHECKPOINTS = "checkpoints"


def _runs(con, refs: list[str]) -> list[str]:
    ids = []
    for ref in refs:
        rid = resolve_run(con, ref)
        if rid not in ids:
            ids.append(rid)
    return ids


# The functions below open the store read-write (short connections), as the app's own do: DuckDB
# refuses a read-only connection beside a read-write one in one process (workbench/tui/store_gate.py).

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
    def change(a):
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
    def change(a):
        a["archived"] = archived

    annotate(store, run_ids, change)


def check_deletable(store: Path, run_ids: list[str]) -> dict[str, str]:
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


@dataclass
class Deleted:
    """What delete_runs did: every run's rows are gone; where its folder went."""

    trashed: list[str] = field(default_factory=list)     # the folder moved to the trash
    kept: list[str] = field(default_factory=list)        # the folder left in place (--keep-folder)
    folderless: list[str] = field(default_factory=list)  # no folder on this machine: rows deleted for good
    bytes: int = 0                                       # moved to the trash: what `gc --trash` would free

    def summary(self, trash: Path) -> str:
        """One line for the CLI and the app."""
        parts = []
        if self.trashed:
            parts.append(f"moved {runs_count(len(self.trashed))} to the trash ({trash}, {_bytes(self.bytes)}): "
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
    done = Deleted()
    for i, rid in enumerate(run_ids):
        folder = folders[rid]
        if not keep_folder and folder is not None:
            size = _size(folder)  # a stat per file: a checkpoint-heavy folder takes a moment
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
            done.trashed.append(rid)
            done.bytes += size
        else:
            (done.kept if keep_folder and folder is not None else done.folderless).append(rid)
        with connect(store) as con:
            write.delete_run(con, rid)
    return done


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


def restore_runs(store: Path, refs: list[str]) -> list[tuple[str, Path]]:
    """`rm --undo`: move deleted runs back from the trash (to where they were) and ingest them again
    (the store is rebuilt from the folder, as `sync` does); [(run id, its folder)]."""
    from workbench.commands.sync import ingest_folders

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
    restored = []
    for rid, dest in places.items():
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(trash / rid, dest)
        except OSError as e:
            raise UserError(f"cannot move {trash / rid} back to {dest}: {e.strerror or e}") from None
        (dest / rundir.TRASHED).unlink(missing_ok=True)
        ingest_folders(store, [dest])
        restored.append((rid, dest))
    return restored


def tag(args) -> int:
    refs = [i for i in args.items if "=" not in i]
    items = [i for i in args.items if "=" in i]
    if not refs or not items:
        raise UserError("tag: give runs and KEY=VALUE tags, e.g. `workbench tag last baseline=yes`")
    pairs = parse_tags(items)
    store, ids = _store_and_runs(args, refs)
    set_tags(store, ids, pairs)
    shown = ", ".join(f"{k}={v}" if v else f"-{k}" for k, v in pairs.items())
    console.print(f"tagged {len(ids)} run{'s' if len(ids) > 1 else ''}: {shown}")
    return 0


def _store_and_runs(args, refs: list[str]) -> tuple[Path, list[str]]:
    store = store_of(args)
    _record(store)
    with connect(store, read_only=True) as con:
        return store, _runs(con, refs)


def _record(store: Path) -> None:
    """A writer records the runs that ended unfollowed (launch/reckon.py) first; a folder it cannot
    record is said in one line, and the command goes on."""
    for line in reckon.record(store).warnings:
        console.print(f"warning: {line}", markup=False, soft_wrap=True)


def note(args) -> int:
    store, ids = _store_and_runs(args, [args.run])
    add_note(store, ids[0], " ".join(args.text))
    console.print(f"noted on {ids[0]}")
    return 0


def archive(args) -> int:
    store, ids = _store_and_runs(args, args.runs)
    set_archived(store, ids, not args.undo)
    verb = "unarchived" if args.undo else "archived (hidden from `workbench runs` unless --all)"
    console.print(f"{verb}: {', '.join(ids)}")
    return 0


def rm(args) -> int:
    if args.undo:
        if args.keep_folder:
            raise UserError("rm --undo restores a run's folder and rows: --keep-folder does not go with it")
        for rid, folder in restore_runs(store_of(args), args.runs):
            console.print(f"restored {rid} to {folder}")
        return 0
    store, ids = _store_and_runs(args, args.runs)
    status = check_deletable(store, ids)
    what = ("their store rows only" if args.keep_folder
            else "their store rows; their folders to the trash, runs/.trash/: `workbench rm --undo` restores")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"rm deletes {runs_count(len(ids))} ({what}): confirm with --yes (no terminal to ask on); "
                            "nothing was deleted")
        console.print(f"delete {runs_count(len(ids))} ({what})?\n" + runs_named([f"{r} ({status[r]})" for r in ids]),
                      markup=False)
        if input("[y/N] ").strip().lower() not in ("y", "yes"):
            console.print("nothing was deleted")
            return 1
    console.print(delete_runs(store, ids, keep_folder=args.keep_folder).summary(trash_of(store)))
    return 0


def gc(args) -> int:
    """Delete the checkpoints of completed runs: a finished run keeps its adapter or model (what
    predict, merge and eval read); its checkpoints only served training and resuming. With --trash:
    empty the trash instead (the folders of deleted runs)."""
    store = store_of(args)
    if args.trash:
        return _empty_trash(store, args.dry_run)
    _record(store)
    with connect(store, read_only=True) as con:
        found = read.runs_with_status(con, "completed")
    total, runs = 0, 0
    for run_id, folder in found:
        ckpt = Path(folder) / CHECKPOINTS if folder else None
        if ckpt is None or not ckpt.is_dir():
            continue
        size = _size(ckpt)
        if size == 0 and not any(ckpt.iterdir()):
            continue
        total += size
        runs += 1
        if args.dry_run:
            console.print(f"  {run_id}: {_bytes(size)}")
        else:
            shutil.rmtree(ckpt)
    verb = "would free" if args.dry_run else "freed"
    console.print(f"{verb} {_bytes(total)} ({total:,} bytes) of checkpoints in {runs} completed run"
                  f"{'s' if runs != 1 else ''}; adapters, models and reports kept"
                  + ("" if args.dry_run else " (failed or interrupted runs keep theirs for `workbench resume`)"))
    return 0


def _empty_trash(store: Path, dry_run: bool) -> int:
    trash = trash_of(store)
    entries = sorted(trash.iterdir()) if trash.is_dir() else []
    total = 0
    for entry in entries:
        size = _size(entry) if entry.is_dir() else entry.stat().st_size
        total += size
        if dry_run:
            console.print(f"  {entry.name}: {_bytes(size)}")
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as e:
            raise UserError(f"cannot delete {entry} ({e.strerror or e}); freed {_bytes(total - size)} before it") from None
    verb = "would free" if dry_run else "freed"
    console.print(f"{verb} {_bytes(total)} ({total:,} bytes) of {len(entries)} deleted run{'s' if len(entries) != 1 else ''}"
                  f" in {trash}" + (" (no longer restorable)" if entries and not dry_run else ""))
    return 0


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"
