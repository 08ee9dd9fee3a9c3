"""The app: four top-level modes (Recipes, Runs, Monitor, Query), pushed screens for the recipe
editor, launch dialog, run detail and compare, the followers of live runs, and the command palette
(every binding of the current screen is also a palette command).

Configuration comes from the environment (so tests and screenshots inject it): WORKBENCH_STORE
(the store; run folders beside it), WORKBENCH_RECIPES (recipe folders), WORKBENCH_SSH_CONFIG.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from workbench.launch.watch import RunWatch
from workbench.store import read
from workbench.store.db import store_path
from workbench.tui.messages import EventsReceived, FollowInterrupted, RunEnded, RunLaunched
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.monitor import MonitorScreen
from workbench.tui.screens.query import QueryScreen
from workbench.tui.screens.recipes import RecipesScreen
from workbench.tui.screens.runs import RunsScreen
from workbench.tui.store_gate import StoreGate
from workbench.tui.worker_errors import ReportsWorkerErrors


class WorkbenchApp(ReportsWorkerErrors, App):
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = True
    # The mode keys are in the header's title, not the footer: at 80 columns every screen's own keys
    # (esc Back first) must fit the footer (tests/tui/test_footers.py).
    TITLE = "workbench  1 recipes · 2 runs · 3 monitor · 4 query"
    BINDINGS = [
        Binding("1", "switch_mode('recipes')", "Recipes", show=False, tooltip="Recipes: pick, edit, launch"),
        Binding("2", "switch_mode('runs')", "Runs", show=False, tooltip="Every run in the store"),
        Binding("3", "switch_mode('monitor')", "Monitor", show=False, tooltip="Live runs: progress, curves, GPUs"),
        Binding("4", "switch_mode('query')", "Query", show=False, tooltip="SQL over the store"),
        Binding("q", "quit", "Quit", tooltip="Leave (runs go on; reopening re-attaches)"),
    ]

    def __init__(self, store: Path | None = None, *, clock: Callable[[], float] = time.time,
                 follow: bool = True, start_mode: str = "recipes") -> None:
        super().__init__()
        self.store = Path(store) if store is not None else store_path()
        self.gate = StoreGate(self.store)
        # Injected so snapshot tests render fixed elapsed times.
        self.clock = clock
        # False in snapshot tests: no follower threads, the store's content as it is.
        self.follow_enabled = follow
        self.watches: dict[str, RunWatch] = {}
        self._followers: dict[str, Worker] = {}
        self.start_mode = start_mode

    MODES = {"recipes": RecipesScreen, "runs": RunsScreen, "monitor": MonitorScreen, "query": QueryScreen}

    def on_mount(self) -> None:
        self.sub_title = str(self.store)
        self.switch_mode(self.start_mode)
        if self.follow_enabled:
            self.reattach()

    # --- command palette: every binding of the screen in front, plus the modes ------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen = set()
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.description or b.action in seen or not active.enabled:
                continue
            seen.add(b.action)
            target = active.node

            def run(action=b.action, node=target):
                self.call_later(self.run_action, action, node)

            yield SystemCommand(b.description, b.tooltip or f"key: {key}", run)

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

    @on(RunLaunched)
    def _run_launched(self, message: RunLaunched) -> None:
        if message.resumed:
            self.unfollow_run(message.run_id)  # its earlier watch saw it end; follow the new attempt afresh
            if isinstance(self.screen, DetailScreen):
                self.pop_screen()
        self.follow_run(message.run_id, message.run_dir)
        self.notify(f"{message.run_id} {'resumed' if message.resumed else 'started'}", title="launched")
        self.switch_mode("monitor")
        while len(self.screen_stack) > 1:  # a detail or question opened over the monitor before: the new run in front
            self.pop_screen()


def run_app(args) -> int:
    from workbench.store.db import store_path as resolve

    WorkbenchApp(resolve(getattr(args, "store", None))).run()
    return 0
