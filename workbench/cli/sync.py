"""`workbench sync`: the store rebuilt / refreshed from the run folders (workbench/actions/sync.py)."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command, store_of


def register(sub: Subparsers) -> None:
    command(sub, "sync", "Rebuild / refresh the store from the run folders; settle runs whose process is gone.", _sync)


def print_warnings(warnings: list[str]) -> None:
    """Each line a folder or run gave while being ingested or settled (ingest_folders' warnings)."""
    from rich.markup import escape

    from workbench.console import console

    for w in warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)


def _sync(args: argparse.Namespace) -> int:
    from workbench.actions.sync import sync_store
    from workbench.console import console

    done = sync_store(store_of(args))
    got = done.ingested
    print_warnings(got.warnings)
    shown = f"{got.taken} of {done.folders}" if got.taken < done.folders else f"{done.folders}"
    console.print(f"synced {shown} run folders from {done.root}: {got.events} new events"
                  + (f", {got.settled} ended runs settled" if got.settled else ""))
    return 0
