"""What every screen may use of the app (`self.app`, typed so by worker_errors.ReportsWorkerErrors):
the store and its gate (the app's connections), the clock, and the runs it follows live, each fed
to a RunWatch by a follower worker. The app (app.py) adds its modes, bindings and palette on top;
keeping this below the screens means no screen module needs the app module, nor it them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import App
from textual.notifications import SeverityLevel
from textual.worker import Worker, get_current_worker

from workbench.launch.watch import RunWatch
from workbench.store import read
from workbench.store.db import store_path
from workbench.tui.messages import EventsReceived, FollowInterrupted, RunEnded
from workbench.tui.run_group import FollowsGroups, GroupWatch
from workbench.tui.store_gate import StoreGate


class AppBase(FollowsGroups, App):
    def __init__(self, store: Path | None = None, *, clock: Callable[[], float] = time.time,
                 follow: bool = True) -> None:
        super().__init__()
        self.store = Path(store) if store is not None else store_path()
        self.gate = StoreGate(self.store)
        # Injected so snapshot tests render fixed elapsed times.
        self.clock = clock
        # False in snapshot tests: no follower threads, the store's content as it is.
        self.follow_enabled = follow
        self.watches: dict[str, RunWatch] = {}
        self._followers: dict[str, Worker] = {}
        self.groups: dict[str, GroupWatch] = {}  # groups of runs launched here, one after another (run_group.py)

    # --- following live runs -----------------------------------------------------------------
    def reattach(self) -> None:
        """Follow every run the store says is queued or running (after the app was closed)."""
        self._find_live_runs()

    @work(thread=True, group="store", exit_on_error=False)
    def _find_live_runs(self) -> None:
        with self.gate.connect() as con:
            rows = read.unfinished_runs(con)
        for run_id, run_dir in rows:
            if run_dir and Path(run_dir).is_dir():
                self.call_from_thread(self.follow_run, run_id, Path(run_dir))

    def follow_run(self, run_id: str, run_dir: Path) -> RunWatch:
        """Start following a run (idempotent); its RunWatch fills as events arrive. Runs that
        have ended are read once; live ones are polled until they end."""
        watch = self.watches.get(run_id)
        if watch is None:
            watch = self.watches[run_id] = RunWatch(run_id, run_dir=Path(run_dir))
            self._followers[run_id] = self._follow(run_id, Path(run_dir), self.follow_enabled, watch)
        return watch

    def unfollow_run(self, run_id: str) -> None:
        """Stop watching a run here (the run itself goes on; `workbench attach` or reopening follows it)."""
        worker = self._followers.pop(run_id, None)
        if worker is not None:
            worker.cancel()
        self.watches.pop(run_id, None)

    @work(thread=True, group="follow", exit_on_error=False)
    def _follow(self, run_id: str, run_dir: Path, live: bool, watch: RunWatch) -> None:
        """Follow a run through the follower the CLI uses too (actions.jobs.follow: mirror, ingest, settle)
        and feed the watch from its EventFeed: every event once, in order, whoever else ingests too. A run
        that has ended is read once. Messages name the watch they feed: after a resume the run has a new
        one, and what this follower still posts no longer applies."""
        from workbench.actions.jobs import follow
        from workbench.launch.follow import EventFeed, Feed

        worker = get_current_worker()

        def show(feed: Feed) -> None:
            self.post_message(EventsReceived(run_id, feed.events, feed.warnings, watch))

        final = None
        if live:
            final = follow(self.store, run_dir, on_events=show, ctrl_c="detach", cancelled=lambda: worker.is_cancelled,
                           on_disconnect=lambda reason: self.post_message(FollowInterrupted(run_id, reason)))
            if final == "detached":
                return
        else:
            for feed in EventFeed(run_dir).batches():
                show(feed)
        with self.gate.connect() as con:
            status, error = read.run_status_error(con, run_id)
        if final is not None:
            self.post_message(RunEnded(run_id, final, error, watch=watch))
        elif status is not None:
            self.post_message(RunEnded(run_id, status, error, quiet=True, watch=watch))

    def _watch_of(self, message: EventsReceived | RunEnded) -> RunWatch | None:
        """The watch a follower's message feeds, if the app still follows the run with it."""
        watch = self.watches.get(message.run_id)
        return watch if message.watch is None or message.watch is watch else None

    @on(EventsReceived)
    def _events_received(self, message: EventsReceived) -> None:
        watch = self._watch_of(message)
        if watch is None:
            return
        watch.apply(message.events)
        for w in message.warnings:
            self.notify(w, title=message.run_id, severity="warning")

    @on(RunEnded)
    def _run_ended(self, message: RunEnded) -> None:
        watch = self._watch_of(message)
        if watch is None:
            return  # an earlier attempt's follower (the run was resumed since), or a run no longer followed
        watch.set_status(message.status, message.error)
        if message.quiet:
            return
        severity: SeverityLevel = "information" if message.status == "completed" else "warning"
        self.notify(f"{message.run_id}: {message.status}", title="run ended", severity=severity)

    @on(FollowInterrupted)
    def _follow_interrupted(self, message: FollowInterrupted) -> None:
        self.notify(message.reason, title=message.run_id, severity="warning")
