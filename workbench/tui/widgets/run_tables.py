"""Cells shared by the runs browser, the run detail and the compare screen: status, durations
(running runs against the app's clock, never time.time(), so snapshots are fixed), metric cells
and short run names for side-by-side columns. Plain rich renderables, no widgets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, overload

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size

from workbench.console import delta_text, status_text
from workbench.store.schema import LOWER_IS_BETTER
from workbench.tui.widgets.table import Table
from workbench.wording import fmt


class RunTable(Table):
    """A Table for many one-line rows (the runs browser holds 10,000 and more).

    DataTable measures each new row by rendering every cell of it; for one-line cells the plain
    text's width is the same number at a fraction of the cost (10,000 rows: ~0.1 s, not ~3 s),
    which keeps the first paint and every filter change fast. Rows with labels or auto height go
    the ordinary way. (Relies on DataTable internals of textual 8.)"""

    def add_keyed_rows(self, rows: list[tuple[str, tuple]]) -> None:
        """Append (key, cells) rows in order."""
        for key, cells in rows:
            self.add_row(*cells, key=key)

    def _update_dimensions(self, new_rows) -> None:
        rows = [self.rows.get(k) for k in new_rows]
        if any(r is not None and (r.auto_height or r.label is not None) for r in rows):
            return super()._update_dimensions(new_rows)
        columns = [c for c in self.ordered_columns if c.auto_width]
        for key in new_rows:
            data = self._data.get(key)
            if data is None:
                continue
            for column in columns:
                value = data.get(column.key)
                plain = value.plain if isinstance(value, Text) else "" if value is None else str(value)
                width = cell_len(plain)
                if width > column.content_width:
                    column.content_width = width
        total_width = sum(c.get_render_width(self) for c in self.columns.values()) + self._row_label_column_width
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(total_width, self._total_row_height + header_height)
        self._widths_changed()


def status_cell(status: str | None, warnings: list[str] | None = None, targets_met: bool | None = None) -> Text:
    """The status in its colour, with `⚠N` when N guardrails fired (the run learned little or nothing),
    `T✓` / `T✗` when it met / missed its eval.targets."""
    return status_text(status, len(warnings or []), targets_met)


@overload
def epoch_of(ts: datetime) -> float: ...
@overload
def epoch_of(ts: None) -> None: ...
def epoch_of(ts: datetime | None) -> float | None:
    """Stored TIMESTAMPs are naive UTC."""
    return ts.replace(tzinfo=UTC).timestamp() if ts is not None else None


def run_seconds(status: str | None, duration_s: float | None, started_at: datetime | None,
                clock: Callable[[], float]) -> float | None:
    """The stored duration; for a run still going, the time since it started by `clock`."""
    if duration_s is not None:
        return duration_s
    if status in ("running", "queued") and started_at is not None:
        return max(0.0, clock() - epoch_of(started_at))
    return None


def started_cell(ts: datetime | None) -> str:
    return ts.strftime("%m-%d %H:%M") if ts is not None else "—"


def main_metric_cell(tuned: float | None, base: float | None) -> Text:
    """`0.715 +0.490` (tuned, coloured delta against the base model); `base 0.225` while no tuned value."""
    if tuned is not None:
        out = Text(fmt(tuned))
        if base is not None:
            out.append(" ")
            out.append_text(delta_text("f1_micro", tuned - base))
        return out
    if base is not None:
        return Text(f"base {fmt(base)}", style="dim")
    return Text("—", style="dim")


def best_cell(metric: str, value: Any, best: float | None) -> Text:
    """A value of a side-by-side row; the best of the row highlighted (bold, underlined)."""
    if value is not None and best is not None and value == best:
        return Text(fmt(value), style="bold underline")
    return Text(fmt(value))


def better(metric: str, a: float, b: float) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b


def mean_std_text(mean: float, std: float, n: int) -> str:
    return f"{mean:.3f} ± {std:.3f} (n={n})"
