"""`workbench init`: copy the shipped recipes out to edit (workbench.actions.init)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "init", "Copy the shipped recipes (with their demo data) into DIR/recipes, to edit and run.", _init)
    sp.add_argument("dir", nargs="?", default=".", help="folder to hold recipes/ (default: the current folder)")
    sp.add_argument("--force", action="store_true", help="overwrite files that already exist")


def _init(args: argparse.Namespace) -> int:
    from workbench.actions.init import init
    from workbench.console import console

    done = init(Path(args.dir), force=args.force)
    console.print(f"wrote {done.recipes} recipes and {done.other_files} data / prompt / template files to {done.dest}")
    demo = done.demo
    console.print(f"next: workbench run {demo.relative_to(Path.cwd()) if demo.is_relative_to(Path.cwd()) else demo}"
                  "   (offline, CPU, about a minute)")
    return 0
