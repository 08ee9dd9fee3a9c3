"""`workbench sync`: ingest every run folder into the store (rebuilding it if it was deleted),
and settle runs whose local process is gone without an `end` event."""

from __future__ import annotations

import socket

from workbench.commands.common import store_of
from workbench.console import console
from workbench.events import END_STATUSES
from workbench.launch import local
from workbench.launch.follow import settle_dead
from workbench.store.db import connect, runs_root
from workbench.store.ingest import RUN_META, ingest_run, read_run_meta


def main(args) -> int:
    store = store_of(args)
    root = runs_root(store)
    dirs = sorted(p.parent for p in root.glob(f"*/{RUN_META}")) if root.is_dir() else []
    new_events = settled = 0
    with connect(store) as con:
        results = []
        for d in dirs:
            res = ingest_run(con, d)
            for w in res.warnings:
                console.print(f"[yellow]warning:[/] {w}", markup=True)
            new_events += len(res.events)
            results.append((d, res))
    this_host = socket.gethostname()
    for d, res in results:
        if res.status in END_STATUSES:
            continue
        meta = read_run_meta(d)
        if meta.get("target", "local") == "local" and meta.get("host") == this_host \
                and not local.pid_alive(meta.get("pid"), d):
            settle_dead(store, d, None)
            settled += 1
    console.print(f"synced {len(dirs)} run folders from {root}: {new_events} new events"
                  + (f", {settled} runs whose process was gone settled" if settled else ""))
    return 0
