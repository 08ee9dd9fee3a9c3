"""A run's life after it ends: `tag`, `note`, `archive`, `rm`, `gc`.

Tags, notes and the archived mark are written to the run folder's annotations.json first (the
folder is the unit of truth: `workbench sync` rebuilds them), then to the store. `rm` deletes a
run's rows and, unless --keep-folder, its folder; `gc` deletes the checkpoints of completed runs
(adapters, models, reports and predictions stay). Nothing is deleted from a run still going, and
every refusal comes before anything is deleted.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from workbench import rundir
from workbench.commands.common import resolve_run, run_dir_of, store_of
from workbench.console import console
from workbench.errors import UserError
from workbench.launch import reckon
from workbench.store import read, write
from workbench.store.db import connect

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

def annotate(store: Path, run_ids: list[str], change) -> None:
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


def delete_runs(store: Path, run_ids: list[str], *, keep_folder: bool = False) -> int:
    """Delete runs (store rows, and folders unless keep_folder); the bytes of folders freed."""
    check_deletable(store, run_ids)
    with connect(store) as con:
        folders = {rid: read.run_dir_recorded(con, rid) for rid in run_ids}
    freed = 0
    for rid in run_ids:
        with connect(store) as con:
            write.delete_run(con, rid)
        folder = Path(folders[rid]) if folders[rid] else None
        if not keep_folder and folder is not None and folder.is_dir():
            freed += _size(folder)
            shutil.rmtree(folder)
    return freed


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
    reckon.record(store)  # a writer records the runs that ended unfollowed (launch/reckon.py) first
    with connect(store, read_only=True) as con:
        return store, _runs(con, refs)


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
    store, ids = _store_and_runs(args, args.runs)
    status = check_deletable(store, ids)
    what = "its store rows" if args.keep_folder else "its store rows and run folder"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"rm deletes {len(ids)} run{'s' if len(ids) > 1 else ''} ({what}): confirm with --yes "
                            "(no terminal to ask on); nothing was deleted")
        listing = "\n".join(f"  {rid} ({status[rid]})" for rid in ids)
        console.print(f"delete {len(ids)} run{'s' if len(ids) > 1 else ''} ({what})?\n{listing}")
        if input("[y/N] ").strip().lower() not in ("y", "yes"):
            console.print("nothing was deleted")
            return 1
    freed = delete_runs(store, ids, keep_folder=args.keep_folder)
    console.print(f"deleted {len(ids)} run{'s' if len(ids) > 1 else ''}"
                  + ("" if args.keep_folder else f", {_bytes(freed)} freed"))
    return 0


def gc(args) -> int:
    """Delete the checkpoints of completed runs: a finished run keeps its adapter or model (what
    predict, merge and eval read); its checkpoints only served training and resuming."""
    store = store_of(args)
    reckon.record(store)
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


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"
