"""The app: four top-level modes (Recipes, Runs, Monitor, Query), pushed screens for the recipe
editor, launch dialog, run detail and compare, the followers of live runs, and the command palette
(every binding of the current screen is also a palette command; palette.py adds every run, every
recipe and the other modes' commands).

Configuration comes from the environment (so tests and screenshots inject it): WORKBENCH_STORE
(the store; run folders beside it), WORKBENCH_RECIPES (recipe folders), WORKBENCH_SSH_CONFIG.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from workbench.tui.app_base import AppBase
from workbench.tui.messages import RunLaunched
from workbench.tui.palette import ModeCommands, RunsAndRecipes
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.monitor import MonitorScreen
from workbench.tui.screens.query import QueryScreen
from workbench.tui.screens.recipes import RecipesScreen
from workbench.tui.screens.runs import RunsScreen
from workbench.tui.worker_errors import ReportsWorkerErrors


class WorkbenchApp(ReportsWorkerErrors, AppBase):
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = True
    # The palette finds every run and recipe and every mode's commands, from any screen (palette.py).
    COMMANDS = AppBase.COMMANDS | {RunsAndRecipes, ModeCommands}
    # The mode keys are in the header's title, not the footer: at 80 columns every screen's own keys
    # (esc Back first) must fit the footer (tests/tui/test_footers.py).
    TITLE = "workbench  1 recipes · 2 runs · 3 monitor · 4 query"
    # In a text box (the SQL box, a filter, the editor's fields) 1-4 and q are typed (and the footer
    # leaves them out); there escape leaves the box, ctrl+p finds the modes (get_system_commands), and
    # Textual's ctrl+q quits. Not alt+1..4: terminals send ESC 1, which Textual reads as "¡" (macOS's
    # option+1), typed into the box.
    BINDINGS = [
        Binding("1", "switch_mode('recipes')", "Recipes", show=False, tooltip="Recipes: pick, edit, launch"),
        Binding("2", "switch_mode('runs')", "Runs", show=False, tooltip="Every run in the store"),
        Binding("3", "switch_mode('monitor')", "Monitor", show=False, tooltip="Live runs: progress, curves, GPUs"),
        Binding("4", "switch_mode('query')", "Query", show=False, tooltip="SQL over the store"),
        Binding("q", "quit", "Quit", tooltip="Leave (runs go on; reopening re-attaches)"),
    ]

    def __init__(self, store: Path | None = None, *, clock: Callable[[], float] = time.time,
                 follow: bool = True, start_mode: str = "recipes") -> None:
        super().__init__(store, clock=clock, follow=follow)
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
        seen, titles = set(), set()
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.description or b.action in seen or not active.enabled:
                continue
            seen.add(b.action)
            titles.add(b.description)
            target = active.node

            def run(action=b.action, node=target):
                self.call_later(self.run_action, action, node)

            yield SystemCommand(b.description, b.tooltip or f"key: {key}", run)
        # The app's own keys even where a text box takes them (1-4 and q are typed there).
        for own in self.BINDINGS:
            if isinstance(own, Binding) and own.description and own.action not in seen and own.description not in titles:
                seen.add(own.action)
                yield SystemCommand(own.description, own.tooltip or f"key: {own.key}",
                                    partial(self.call_later, self.run_action, own.action))

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
