"""The run detail's Errors tab: what the model got wrong on the detail's split (`workbench errors`, through
workbench/actions/errors.py in a worker), most confident first, with two selects: which mistakes (the
tuned model's, those tuning fixed, those it broke) and a confusion-matrix cell (gold → predicted) of a
single-label run, whose examples the table then holds. The confusion matrix itself is text in the
Metrics tab, so its cells are chosen here."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Select, Static

from workbench.actions.errors import Errors, list_errors
from workbench.errors import UserError
from workbench.tasks.mistakes import Mistake, columns_in_use, record
from workbench.tui.widgets.table import Table
from workbench.wording import fmt

ALL_CELLS = "(all)"
WHICH_OPTIONS = [("tuned model's mistakes", "wrong"), ("fixed by tuning", "fixed"), ("broken by tuning", "broken")]


class ErrorsRead(Message):
    """A run's mistakes were read from its prediction files."""

    def __init__(self, key: tuple[str, str, str], errors: Errors) -> None:
        super().__init__()
        self.key, self.errors = key, errors


class ErrorsRefused(Message):
    """The run has no prediction files for the split (or they could not be read): the one line why."""

    def __init__(self, key: tuple[str, str, str], error: str) -> None:
        super().__init__()
        self.key, self.error = key, error


class ErrorsPane(Vertical):
    DEFAULT_CSS = """
    ErrorsPane { height: 1fr; }
    ErrorsPane #errors-bar { height: auto; }
    ErrorsPane #errors-which { width: 30; }
    ErrorsPane #errors-cell { width: 1fr; }
    ErrorsPane #errors-summary { height: auto; }
    ErrorsPane #errors-table { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.key: tuple[str, str, str] | None = None   # (run id, split, which) asked for last
        self.errors: Errors | None = None               # what was read for it
        self._cells: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="errors-bar"):
            yield Select(WHICH_OPTIONS, id="errors-which", value="wrong", allow_blank=False, compact=True)
            yield Select([], id="errors-cell", prompt="confusion cell: gold → predicted", allow_blank=True,
                         compact=True)
        yield Static("", id="errors-summary")
        yield Table(id="errors-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#errors-cell", Select).display = False

    def show(self, run_id: str, split: str) -> None:
        """Read the run's mistakes on `split` (again only when run, split or which changed)."""
        which = str(self.query_one("#errors-which", Select).value)
        key = (run_id, split, which)
        if key == self.key:
            return
        self.key = key
        self.query_one("#errors-summary", Static).update(Text(f"reading the predictions on {split} …", style="dim"))
        self._read(key)

    @work(thread=True, exclusive=True, group="errors-read", exit_on_error=False)
    def _read(self, key: tuple[str, str, str]) -> None:
        run_id, split, which = key
        try:
            errors = list_errors(self.app.store, run_id, split=split, which=which, read_only=False)  # type: ignore[attr-defined]
        except UserError as e:
            self.post_message(ErrorsRefused(key, str(e)))
            return
        self.post_message(ErrorsRead(key, errors))

    @on(ErrorsRefused)
    def _refused(self, message: ErrorsRefused) -> None:
        if message.key != self.key:
            return
        self.errors = None
        self.query_one("#errors-cell", Select).display = False
        self.query_one("#errors-table", DataTable).clear(columns=True)
        self.query_one("#errors-summary", Static).update(Text(message.error, style="yellow"))

    @on(ErrorsRead)
    def _read_done(self, message: ErrorsRead) -> None:
        if message.key != self.key:
            return
        errors = self.errors = message.errors
        select = self.query_one("#errors-cell", Select)
        self._cells = [(g, p) for g, p, _ in errors.cells]
        select.display = bool(errors.cells)
        with select.prevent(Select.Changed):
            select.set_options([(f"{g} → {p}  ({n})", f"{i}") for i, (g, p, n) in enumerate(errors.cells)])
        self._fill(None)

    @on(Select.Changed, "#errors-which")
    def _which_changed(self, event: Select.Changed) -> None:
        event.stop()
        if self.key is not None:
            self.show(self.key[0], self.key[1])

    @on(Select.Changed, "#errors-cell")
    def _cell_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = event.value
        self._fill(self._cells[int(str(value))] if isinstance(value, str) else None)

    def choose_cell(self, gold: str, predicted: str) -> None:
        """Show the examples of confusion cell gold → predicted (as choosing it in the select does)."""
        self.query_one("#errors-cell", Select).value = str(self._cells.index((gold, predicted)))

    def _fill(self, cell: tuple[str, str] | None) -> None:
        errors = self.errors
        if errors is None:
            return
        rows: list[Mistake] = [m for m in errors.rows if cell is None or m.cell == cell]
        what = {"wrong": "mistakes of the tuned model", "fixed": "base-model mistakes that tuning fixed",
                "broken": "tuned-model mistakes where the base model was right"}[errors.which]
        where = f" in cell {cell[0]} → {cell[1]}" if cell else ""
        self.query_one("#errors-summary", Static).update(Text(
            f"{len(rows)} {what}{where} of {errors.examples} examples ({errors.split}), most confident first"))
        table = self.query_one("#errors-table", DataTable)
        table.clear(columns=True)
        columns = columns_in_use(rows)
        for c in columns:
            table.add_column(c, key=c)
        for i, m in enumerate(rows):
            values = record(m)
            table.add_row(*(_cell(c, values[c]) for c in columns), key=str(i))


def _cell(column: str, value) -> str:
    if column == "confidence":
        return fmt(value, 3)
    text = "" if value is None else str(value)
    return text if column not in ("text", "answer") or len(text) <= 60 else text[:59] + "…"
