"""The app's DataTable: every table of the app is one of these (or a subclass).

textual 8's DataTable measures new rows on its idle pass (`_update_dimensions`) and widens the
columns, but its rendered-line caches are keyed by an update counter that this pass does not
advance. A header line drawn between `add_row` and the idle pass therefore keeps the old column
widths above rows drawn with the new ones until something else (a resize, a cursor move) bumps the
counter. On a busy machine that stale header was what the user saw (and what a snapshot caught).
"""

from __future__ import annotations

from textual.widgets import DataTable


class Table(DataTable):
    """DataTable whose rendered lines follow its column widths. (Relies on DataTable internals of
    textual 8: `_update_dimensions`, `_update_count`.)"""

    def _update_dimensions(self, new_rows) -> None:
        super()._update_dimensions(new_rows)
        self._widths_changed()

    def _widths_changed(self) -> None:
        # Every line/row/cell cache key carries the counter: advancing it drops them all.
        self._update_count += 1
        self.refresh()

    # A row table's home / end go to the first / last row (DataTable's scroll sideways).
    def action_scroll_home(self) -> None:
        if self.cursor_type == "row":
            self.action_scroll_top()
        else:
            super().action_scroll_home()

    def action_scroll_end(self) -> None:
        if self.cursor_type == "row":
            self.action_scroll_bottom()
        else:
            super().action_scroll_end()
