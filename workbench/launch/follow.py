"""Following a run: tail its events into the store until it ends, and settle the status of
runs whose process died without writing an `end` event."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from workbench.events import END_STATUSES
from workbench.launch import local
from workbench.store.db import connect
from workbench.store.ingest import IngestResult, ingest_run, mark_ended, read_run_meta

OnEvents = Callable[[IngestResult], None]


def ingest_once(store: Path, run_dir: Path) -> IngestResult:
    with connect(store) as con:
        return ingest_run(con, run_dir)


def settle_dead(store: Path, run_dir: Path, returncode: int | None) -> str:
    """The process is gone: ingest what it wrote; if it never wrote `end`, record why it stopped."""
    res = ingest_once(store, run_dir)
    if res.status in END_STATUSES:
        return res.status
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        status, error = ("interrupted", f"killed by {name}") if name in ("SIGKILL", "SIGTERM", "SIGINT", "SIGHUP") \
            else ("failed", f"crashed with {name}")
    elif returncode is not None:
        status, error = "failed", f"process exited with code {returncode} without an end event (see train.log)"
    else:
        status, error = "failed", "process is gone without an end event (see train.log)"
    with connect(store) as con:
        mark_ended(con, res.run_id, status, error, time.time())
    return status


def follow(store: Path, run_dir: Path, *, proc=None, on_events: OnEvents | None = None, poll: float = 0.5,
           stop_grace: float = 60.0) -> str:
    """Ingest until the run ends; returns its final status. Ctrl-C stops the run cleanly:
    the trainer is sent SIGINT and followed until it records `interrupted`."""
    meta = read_run_meta(run_dir)
    pid = proc.pid if proc is not None else meta.get("pid")
    stop = threading.Event()
    # Ctrl-C only sets a flag: raised as an exception it could land inside a DuckDB
    # transaction (which reports it as "Query interrupted") and lose the run's last events.
    in_main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if in_main else None
    stopping_since: float | None = None
    try:
        while True:
            if stop.is_set() and stopping_since is None and pid:
                stopping_since = time.monotonic()
                local.interrupt(pid)
                if on_events is not None:
                    on_events(IngestResult(meta["run_id"], [{"type": "log", "level": "warning",
                                                             "message": "stopping the run (Ctrl-C)…"}]))
            res = ingest_once(store, run_dir)
            if on_events is not None and (res.events or res.warnings):
                on_events(res)
            if res.status in END_STATUSES:
                if proc is not None:
                    proc.wait()
                return res.status
            alive = proc.poll() is None if proc is not None else (
                meta.get("host") != socket.gethostname() or local.pid_alive(pid, run_dir))
            if not alive:
                return settle_dead(store, run_dir, proc.returncode if proc is not None else None)
            if stopping_since is not None and time.monotonic() - stopping_since > stop_grace:
                os.killpg(pid, signal.SIGKILL)  # it ignored SIGINT for too long
            time.sleep(poll)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
