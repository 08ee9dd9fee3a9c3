"""`workbench tag`, `note`, `archive`, `rm`, `gc`: keep the record tidy."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "tag", "Tag runs: KEY=VALUE (KEY= removes it); `runs --tag KEY=VALUE` lists them.", _tag)
    sp.add_argument("items", nargs="+", metavar="RUN|KEY=VALUE", help="run ids (unique prefix or suffix, 'last'), "
                    "then the tags, e.g. `workbench tag last baseline=yes dataset=v2`")

    sp = command(sub, "note", "Add a note to a run (shown by `show` and the app's detail).", _note)
    sp.add_argument("run", help="run id, unique prefix or suffix, or 'last'")
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


def _tag(args: argparse.Namespace) -> int:
    from workbench.commands.lifecycle import tag

    return int(tag(args) or 0)


def _note(args: argparse.Namespace) -> int:
    from workbench.commands.lifecycle import note

    return int(note(args) or 0)


def _archive(args: argparse.Namespace) -> int:
    from workbench.commands.lifecycle import archive

    return int(archive(args) or 0)


def _rm(args: argparse.Namespace) -> int:
    from workbench.commands.lifecycle import rm

    return int(rm(args) or 0)


def _gc(args: argparse.Namespace) -> int:
    from workbench.commands.lifecycle import gc

    return int(gc(args) or 0)
