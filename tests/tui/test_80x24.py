"""At 80×24 (a laptop's SSH window) what each screen shows reads whole: the Runs footer's keys, the
Monitor's ETA, the editor's last tab; and the Query result says when columns lie right of the view.
Asserted on the app's rendered screen (its screenshot's text)."""

from __future__ import annotations

import asyncio
import html
import re

from tests.tui.conftest import settled, until
from tests.tui.test_editor import SHIPPED_DEMO, open_editor, set_field
from tests.tui.test_monitor import RUNNING, _open_monitor
from tests.tui.test_query import run_typed
from tests.tui.test_runs import runs_ready
from workbench.tui.screens.monitor import RunMonitor
from workbench.tui.screens.runs import RunsScreen
from workbench.wording import fmt_duration

SIZE = (80, 24)


def screen_lines(app) -> list[str]:
    """The rendered screen, one string per terminal row (from the SVG screenshot's text)."""
    rows: dict[float, list[str]] = {}
    for m in re.finditer(r"<text([^>]*)>(.*?)</text>", app.export_screenshot(), re.S):
        y = re.search(r'y="([\d.]+)"', m.group(1))
        if y:
            rows.setdefault(float(y.group(1)), []).append(html.unescape(re.sub("<[^>]+>", "", m.group(2))))
    return ["".join(v).replace("\xa0", " ") for _, v in sorted(rows.items())]


def test_runs_footer_shows_every_key_it_lists_whole(make_app):
    async def go():
        async with make_app("runs").run_test(size=SIZE) as pilot:
            await runs_ready(pilot)
            await settled(pilot)
            footer = screen_lines(pilot.app)[-1]
            assert "q Quit" in footer and "^p palette" in footer, footer
            for b in RunsScreen.BINDINGS:
                if b.show:
                    assert f"{b.description}" in footer, (b.description, footer)

    asyncio.run(go())


def test_monitor_shows_the_eta_whole(make_app):
    async def go():
        async with make_app().run_test(size=SIZE) as pilot:
            await _open_monitor(pilot, RUNNING)
            watch = pilot.app.screen.query_one(RunMonitor).run_watch
            eta = watch.eta_s()
            assert eta is not None
            line = next(x for x in screen_lines(pilot.app) if "step " in x and "/" in x)
            assert line.rstrip().endswith(f"ETA {fmt_duration(eta)}"), line

    asyncio.run(go())


def test_editor_tabs_read_whole(make_app):
    async def go():
        async with make_app().run_test(size=SIZE) as pilot:
            await open_editor(pilot, SHIPPED_DEMO)
            await set_field(pilot, "lora.r", "8")  # a changed section's tab carries a mark
            await settled(pilot)
            tabs = next(x for x in screen_lines(pilot.app) if "general" in x and "model" in x)
            assert tabs.rstrip().endswith("stats"), tabs

    asyncio.run(go())


def test_query_result_says_columns_lie_right_of_the_view(make_app):
    async def go():
        async with make_app("query").run_test(size=SIZE) as pilot:
            await settled(pilot)
            screen = await run_typed(pilot, "SELECT * FROM runs", keys=False)
            lines = screen_lines(pilot.app)
            hint = [x for x in lines if "more columns to the right" in x]
            assert hint, "\n".join(lines)
            n = int(re.search(r"(\d+) more columns", hint[0]).group(1))
            table = screen.query_one("#results")
            assert 0 < n < len(table.columns)
            await pilot.press("escape", "right", "right")
            await until(pilot, lambda: table.scroll_x == 2, "the result scrolled by the → key")
            table.scroll_to(x=table.max_scroll_x, animate=False)
            await settled(pilot)
            assert not any("more column" in x for x in screen_lines(pilot.app))  # scrolled to the last column

    asyncio.run(go())
