"""`workbench sync`: the store rebuilt / refreshed from the run folders."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    command(sub, "sync", "Rebuild / refresh the store from the run folders; settle runs whose process is gone.", _sync)


def _sync(args: argparse.Namespace) -> int:
    from workbench.commands.sync import main

    return int(main(args) or 0)
