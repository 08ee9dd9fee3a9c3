"""The app's tables redraw their header when the idle pass widens the columns: a header drawn
between `add_row` and that pass (what a busy machine shows) must not keep the old widths above
rows drawn with the new ones. textual's own DataTable fails this (checked here too: the day it stops
failing, the workaround in workbench/tui/widgets/table.py can go)."""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.app import App
from textual.widgets import DataTable

from workbench.tui.widgets.run_tables import RunTable
from workbench.tui.widgets.table import Table


def header_and_row_after_idle(table_class: type[DataTable]) -> tuple[str, str]:
    class One(App):
        def compose(self):
            yield table_class()

    async def go():
        app = One()
        async with app.run_test(size=(60, 8)) as pilot:
            table = app.query_one(DataTable)
            table.add_column("label", key="label")
            table.add_column("f1", key="f1")
            await pilot.pause()
            table.add_row("a-rather-long-label-name", "0.5", key="r")
            table.render_line(0)  # the header drawn before the idle pass measured the new row
            # The idle pass, run now so that no Resize from the wider table can redraw it first.
            await DataTable._on_idle(table, events.Idle())
            return table.render_line(0).text, table.render_line(1).text

    return asyncio.run(go())


@pytest.mark.parametrize("table_class", [Table, RunTable])
def test_the_header_follows_the_widths_measured_on_the_idle_pass(table_class):
    header, row = header_and_row_after_idle(table_class)
    assert header.index("f1") == row.index("0.5"), (header, row)


def test_the_check_above_catches_textuals_stale_header():
    header, row = header_and_row_after_idle(DataTable)
    if header.index("f1") == row.index("0.5"):
        pytest.skip("textual's DataTable no longer keeps a stale header: workbench/tui/widgets/table.py can go")
    assert header.startswith(" label  f1"), header
