"""`workbench init`: copy the shipped recipes out to edit."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "init", "Copy the shipped recipes (with their demo data) into DIR/recipes, to edit and run.", _init)
    sp.add_argument("dir", nargs="?", default=".", help="folder to hold recipes/ (default: the current folder)")
    sp.add_argument("--force", action="store_true", help="overwrite files that already exist")


def _init(args: argparse.Namespace) -> int:
    from workbench.commands.init import main

    return int(main(args) or 0)
