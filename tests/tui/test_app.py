"""The app shell: modes on keys, every binding of the screen in front also in the command palette,
and `workbench` with no command opening the app on the configured store."""

from __future__ import annotations

import asyncio

from textual.command import CommandList, CommandPalette

from tests.conftest import workbench
from tests.tui.conftest import until
from workbench.tui.screens.monitor import MonitorScreen
from workbench.tui.screens.query import QueryScreen
from workbench.tui.screens.recipes import RecipesScreen
from workbench.tui.screens.runs import RunsScreen


def test_number_keys_switch_modes(make_app):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            seen = []
            for key in "2341":
                await pilot.press(key)
                await pilot.pause()
                seen.append(type(pilot.app.screen))
            assert seen == [RunsScreen, MonitorScreen, QueryScreen, RecipesScreen]
            assert pilot.app.sub_title.endswith("runs.duckdb")

    asyncio.run(go())


def highlighted_command(screen) -> str:
    """The text of the palette's highlighted command ("" while it has none)."""
    if not isinstance(screen, CommandPalette):
        return ""
    commands = screen.query_one(CommandList)
    if commands.highlighted is None or not commands.option_count:
        return ""
    return str(commands.get_option_at_index(commands.highlighted).prompt)


def test_palette_offers_the_bindings_of_the_screen_in_front(make_app):
    async def go():
        async with make_app("monitor").run_test(size=(100, 30)) as pilot:
            app = pilot.app
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Stop run", "Detail", "Close tab", "Recipes", "Runs", "Monitor", "Query", "Quit"} <= titles
            # Through the real palette: type, pick, and the action runs (here: switch to Query).
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
            await pilot.press(*"query")
            await until(pilot, lambda: highlighted_command(app.screen).startswith("Query"), "the palette's search")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, QueryScreen), "the query mode")

    asyncio.run(go())


def test_workbench_without_a_command_opens_the_app_in_a_terminal_and_q_quits(sample_store):
    """The real entry point in a real pseudo-terminal: it draws the app, and `q` leaves with 0."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "WORKBENCH_STORE": str(sample_store), "TERM": "xterm-256color", "COLUMNS": "80",
           "LINES": "24"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench"], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"Duplicate" not in seen and time.monotonic() < deadline:  # the recipes screen's footer
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 65536)
        assert b"Duplicate" in seen, f"the app did not draw: {seen[-500:]!r}"
        # `q` once the recipe search has landed: the app is up and its table has the focus
        while b"encoder_multilabel" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 65536)
        assert b"encoder_multilabel" in seen, f"the recipes were not listed: {seen[-500:]!r}"
        os.write(master, b"q")
        # Keep reading: a full pty buffer would block the app's last writes (and its exit).
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    os.read(master, 65536)
                except OSError:  # the app closed its side
                    break
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_without_a_terminal_workbench_says_so_and_exits_2(sample_store):
    p = workbench(timeout=60, store=sample_store)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "needs a terminal" in p.stderr
