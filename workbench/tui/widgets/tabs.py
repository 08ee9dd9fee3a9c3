"""Tab keys shared by the screens built on one TabbedContent (detail, compare, monitor)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.binding import Binding
from textual.widgets import TabbedContent, TabPane

if TYPE_CHECKING:
    from textual.screen import Screen as _Screen  # what it is mixed into (for mypy: `self.query_one`)
else:
    _Screen = object

TAB_BINDINGS = [
    Binding("right_square_bracket", "next_tab", "Next tab", tooltip="Show the next tab"),
    Binding("left_square_bracket", "previous_tab", "Prev tab", tooltip="Show the previous tab"),
]


def cycle_tab(tabs: TabbedContent, step: int) -> None:
    ids = [p.id for p in tabs.query(TabPane)]
    if ids and tabs.active in ids:
        tabs.active = cast(str, ids[(ids.index(tabs.active) + step) % len(ids)])  # a TabbedContent's panes have ids


class TabCycling(_Screen):
    """Mixin for a Screen: `]` / `[` move through the TabbedContent named by TABS."""

    TABS = "TabbedContent"

    def action_next_tab(self) -> None:
        cycle_tab(self.query_one(self.TABS, TabbedContent), 1)

    def action_previous_tab(self) -> None:
        cycle_tab(self.query_one(self.TABS, TabbedContent), -1)
