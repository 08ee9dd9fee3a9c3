"""`workbench tag`, `note`, `archive`, `rm`, `gc`: keep the record tidy (workbench/actions/lifecycle.py); `rm`
asks before it deletes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.parsing import RUN_HELP, Subparsers, command, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "tag", "Tag runs: KEY=VALUE (KEY= removes it); `runs --tag KEY=VALUE` lists them.", _tag)
    sp.add_argument("items", nargs="+", metavar="RUN|KEY=VALUE", help="run ids (unique prefix or suffix, 'last'), "
                    "then the tags, e.g. `workbench tag last baseline=yes dataset=v2`")

    sp = command(sub, "note", "Add a note to a run (shown by `show` and the app's detail).", _note)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("text", nargs="+", help="the note")

    sp = command(sub, "archive", "Hide runs from the lists (`runs --all` shows them); --undo brings them back.", _archive)
    sp.add_argument("runs", nargs="+", metavar="RUN")
    sp.add_argument("--undo", action="store_true", help="unarchive")

    sp = command(sub, "rm", "Delete runs: their store rows, their folders moved to the trash runs/.trash/ (asks first; not "
                 "a run still going); --undo restores.", _rm)
    sp.add_argument("runs", nargs="+", metavar="RUN")
    sp.add_argument("--keep-folder", action="store_true", help="delete the store rows only; `workbench sync` "
                    "brings the run back from its folder")
    sp.add_argument("--undo", action="store_true", help="restore deleted runs from the trash (RUN: an id, a unique "
                    "prefix or suffix of one there): the folder back where it was, its rows ingested again")
    sp.add_argument("--yes", "-y", action="store_true", help="do not ask")

    sp = command(sub, "gc", "Delete the checkpoints of completed runs (adapters, models, reports and predictions stay); "
                 "prints the bytes freed.", _gc)
    sp.add_argument("--dry-run", action="store_true", help="say what would be freed; delete nothing")
    sp.add_argument("--trash", action="store_true", help="empty the trash instead: the folders of deleted runs "
                    "(`workbench rm`), no longer restorable")


def _store_and_runs(args: argparse.Namespace, refs: list[str]) -> tuple[Path, list[str]]:
    """The store, after recording the runs that ended unfollowed (each folder it could not record said
    in one line), and the run ids `refs` name."""
    from workbench.actions.lifecycle import record_ended, resolve_runs

    store = store_of(args)
    _print_recording(record_ended(store))
    return store, resolve_runs(store, refs)


def _print_recording(warnings: list[str]) -> None:
    from workbench.console import console

    for line in warnings:
        console.print(f"warning: {line}", markup=False, soft_wrap=True)


def _tag(args: argparse.Namespace) -> int:
    from workbench.actions.lifecycle import parse_tags, set_tags
    from workbench.console import console
    from workbench.errors import UserError
    from workbench.wording import runs_count

    refs = [i for i in args.items if "=" not in i]
    items = [i for i in args.items if "=" in i]
    if not refs or not items:
        raise UserError("tag: give runs and KEY=VALUE tags, e.g. `workbench tag last baseline=yes`")
    pairs = parse_tags(items)
    store, ids = _store_and_runs(args, refs)
    set_tags(store, ids, pairs)
    shown = ", ".join(f"{k}={v}" if v else f"-{k}" for k, v in pairs.items())
    console.print(f"tagged {runs_count(len(ids))}: {shown}")
    return 0


def _note(args: argparse.Namespace) -> int:
    from workbench.actions.lifecycle import add_note
    from workbench.console import console

    store, ids = _store_and_runs(args, [args.run])
    add_note(store, ids[0], " ".join(args.text))
    console.print(f"noted on {ids[0]}")
    return 0


def _archive(args: argparse.Namespace) -> int:
    from workbench.actions.lifecycle import set_archived
    from workbench.console import console

    store, ids = _store_and_runs(args, args.runs)
    set_archived(store, ids, not args.undo)
    verb = "unarchived" if args.undo else "archived (hidden from `workbench runs` unless --all)"
    console.print(f"{verb}: {', '.join(ids)}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from workbench.actions.lifecycle import check_deletable, delete_runs, restore_runs
    from workbench.cli.sync import print_warnings
    from workbench.console import console
    from workbench.errors import UserError
    from workbench.wording import runs_count, runs_named

    if args.undo:
        if args.keep_folder:
            raise UserError("rm --undo restores a run's folder and rows: --keep-folder does not go with it")
        restored = restore_runs(store_of(args), args.runs)
        print_warnings(restored.warnings)
        for rid, folder in restored.runs:
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
    console.print(delete_runs(store, ids, keep_folder=args.keep_folder).summary())
    return 0


def _gc(args: argparse.Namespace) -> int:
    """Delete the checkpoints of completed runs, or with --trash empty the trash (the folders of deleted
    runs); --dry-run says each run's bytes and deletes nothing."""
    from workbench.actions.lifecycle import empty_trash, gc
    from workbench.console import console
    from workbench.wording import counted, fmt_bytes, size_said

    store = store_of(args)
    if args.trash:
        emptied = empty_trash(store, dry_run=args.dry_run)
        if args.dry_run:
            for name, size in emptied.entries:
                console.print(f"  {name}: {fmt_bytes(size)}")
        total, n = emptied.bytes, len(emptied.entries)
        console.print(f"nothing to free: the trash ({emptied.trash}) is empty" if not n else
                      f"{'would free' if args.dry_run else 'freed'} {size_said(total)} of {counted(n, 'deleted run')} "
                      f"in {emptied.trash}" + ("" if args.dry_run else " (no longer restorable)"))
        return 0
    collected = gc(store, dry_run=args.dry_run)
    _print_recording(collected.warnings)
    if args.dry_run:
        for run_id, size in collected.freed:
            console.print(f"  {run_id}: {fmt_bytes(size)}")
    console.print(collected.summary())
    return 0
