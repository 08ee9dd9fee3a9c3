"""Query mode: SQL over the store. A list of saved example queries (enter loads one into the box
and runs it), a SQL box (F5 or ctrl+r runs it; ctrl+a selects all of it), the result in a table
(at most MAX_ROWS rows shown, the full count said), errors in the status area (a refusal in one
line; DuckDB's error whole, with its hints and the caret under the fault), export of the result to
CSV (ctrl+e), and the queries of this session on ctrl+up / ctrl+down.

User SQL never changes the store: `read_only_statements` (workbench/store/query.py) refuses any statement but
a select or an explain, and what hides inside those (a delete in a CTE, explain analyze of a delete,
a commit); every query runs in a transaction that is rolled back; and the connection itself reads and
writes no file but the store (workbench/store/db.py SEALED).
"""

from __future__ import annotations

import csv
from importlib.util import find_spec
from pathlib import Path
from typing import Any, cast

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from workbench.errors import UserError
from workbench.store.db import StoreError
from workbench.store.examples import EXAMPLES, ExampleQuery
from workbench.store.query import reading
from workbench.tui.screens.prompt import PromptScreen
from workbench.tui.widgets.table import Table
from workbench.tui.worker_errors import ReportsWorkerErrors
from workbench.wording import counted, fmt, plural

MAX_ROWS = 10_000  # rows shown; the count says how many the query returned
MAX_CELL = 120  # characters of one cell line shown (the CSV export has them whole)
HISTORY = 100
DEFAULT_EXPORT = "query-results.csv"
HINT = "Pick an example (F2, enter) or type SQL, then F5 (or ctrl+r) runs it."

# Syntax highlighting needs tree-sitter (textual[syntax]); plain text otherwise. Snapshot tests
# switch it off so they render the same with or without it.
SQL_HIGHLIGHT = find_spec("tree_sitter") is not None and find_spec("tree_sitter_sql") is not None


# --- messages (posted by the workers; handlers touch the widgets) -------------------------------
class QueryFinished(Message):
    def __init__(self, serial: int, sql: str, columns: list[str], rows: list[tuple], total: int,
                 elapsed: float) -> None:
        super().__init__()
        self.serial, self.sql, self.columns, self.rows = serial, sql, columns, rows
        self.total, self.elapsed = total, elapsed


class QueryFailed(Message):
    def __init__(self, serial: int, error: str) -> None:
        super().__init__()
        self.serial, self.error = serial, error


class ResultsExported(Message):
    def __init__(self, path: Path, rows: int) -> None:
        super().__init__()
        self.path, self.rows = path, rows


class ExportFailed(Message):
    def __init__(self, path: Path, error: str) -> None:
        super().__init__()
        self.path, self.error = path, error


# --- the read-only guard beyond the statement kinds ----------------------------------------------
def one_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def whole(error: BaseException | str) -> str:
    """The whole message of `error`, its lines kept (DuckDB's hints and caret), blank ones left out."""
    text = "\n".join(line.rstrip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def error_lines(error: str) -> Group:
    """An error for the status area, a Text a line. The message and the hints wrap; DuckDB's
    `LINE 1: ...` line and the caret line under it do not (a wrap would move the caret off its place)."""
    lines = error.split("\n")
    fixed = {i for i, line in enumerate(lines)
             if line.startswith("LINE ") or (line.strip() and set(line.strip()) <= {"^"})}
    return Group(*(Text(line, style="bold", no_wrap=i in fixed, overflow="crop" if i in fixed else "fold")
                   for i, line in enumerate(lines)))


# --- rendering ------------------------------------------------------------------------------------
def _cell(v: Any) -> str | Text:
    text = fmt(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Text(text, justify="right")
    return text


def _clip(line: str) -> str:
    return line if len(line) <= MAX_CELL else line[:MAX_CELL - 1] + "…"


def display_rows(rows: list[tuple], limit: int = MAX_ROWS) -> list[tuple]:
    """Rows as table cells. A value with several lines (EXPLAIN's plan) takes several table rows."""
    out: list[tuple] = []
    for row in rows:
        cells = [_cell(v) for v in row]
        multi = [c.split("\n") if isinstance(c, str) else [c] for c in cells]
        height = max((len(m) for m in multi), default=1)
        if height == 1:
            out.append(tuple(_clip(c) if isinstance(c, str) else c for c in cells))
        else:
            for i in range(height):
                out.append(tuple(_clip(cast(str, m[i])) if i < len(m) and isinstance(m[i], str) else (m[i] if i < len(m) else "")
                                 for m in multi))
        if len(out) >= limit:
            return out[:limit]
    return out


def unique_export_path(folder: Path) -> Path:
    path = folder / DEFAULT_EXPORT
    n = 2
    while path.exists():
        path = folder / f"query-results-{n}.csv"
        n += 1
    return path


def check_export_path(text: str) -> str | None:
    path = Path(text).expanduser()
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    if path.exists():
        return f"{path.name} exists; give another name"
    if not path.absolute().parent.is_dir():
        return f"no folder {path.absolute().parent}"
    return None


class SqlBox(TextArea):
    """The SQL box: a TextArea where ctrl+a selects all, as in every editor (TextArea's own ctrl+a
    goes to the line start, which home does too; F7 still selects all). q is typed here, so the
    footer shows ctrl+q (the app's, which works in the box too) for Quit."""

    BINDINGS = [
        Binding("ctrl+a", "select_all", "Select all", tooltip="Select all the SQL in the box (also F7)"),
        Binding("ctrl+q", "app.quit", "Quit", priority=True, tooltip="Leave (q types a q here; runs go on)"),
    ]


class QueryScreen(ReportsWorkerErrors, Screen):
    CSS_PATH = "../styles/query.tcss"
    BINDINGS = [
        Binding("f5", "run_query", "Run", priority=True, tooltip="Run the SQL in the box (also ctrl+r)"),
        Binding("ctrl+r", "run_query", "Run", show=False, priority=True, tooltip="Run the SQL in the box"),
        Binding("ctrl+e", "export", "Export CSV", priority=True, tooltip="Save the whole current result as a CSV file"),
        Binding("f2", "focus_examples", "Examples", tooltip="Saved example queries: enter loads one and runs it"),
        Binding("f3", "focus_sql", "Edit SQL", tooltip="Type SQL in the box (tab / escape leave it)"),
        Binding("escape", "focus_results", "Results", show=False, tooltip="Go to the result table"),
        Binding("ctrl+up", "history(-1)", "Previous query", show=False,
                tooltip="Put the previous query of this session in the box"),
        Binding("ctrl+down", "history(1)", "Next query", show=False,
                tooltip="Put the next query of this session in the box"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.serial = 0  # of the latest run; older results are ignored
        self.running = False
        self.result_sql: str | None = None  # the SQL of the result on screen (what export writes)
        self.result_total = 0
        self.history: list[str] = []
        self.history_at = 0
        self.last_error: str | None = None
        self._status_plain = HINT

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="query-top"):
            examples = OptionList(*(Option(e.name, id=f"example-{i}") for i, e in enumerate(EXAMPLES)), id="examples")
            examples.border_title = "examples (F2)"
            yield examples
            if SQL_HIGHLIGHT:
                box = SqlBox.code_editor(language="sql", id="sql", soft_wrap=True, tab_behavior="focus",
                                         show_line_numbers=False)
            else:
                box = SqlBox(id="sql", soft_wrap=True, tab_behavior="focus")
            box.border_title = "SQL (F5 runs)"
            yield box
        yield Static(HINT, id="query-status")
        yield Table(id="results", cursor_type="row", zebra_stripes=True)
        yield Static("", id="more-columns")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#examples", OptionList).focus()
        results = self.query_one("#results", DataTable)
        self.watch(results, "scroll_x", self._more_columns, init=False)
        self.watch(results, "virtual_size", self._more_columns, init=False)

    def on_resize(self) -> None:
        self._more_columns()

    def _more_columns(self, *_: object) -> None:
        """Under the result, how many columns lie (wholly or partly) right of the view: the table
        scrolls sideways, which its narrow scrollbar alone did not tell."""
        table = self.query_one("#results", DataTable)
        right, edge, hidden = table.scroll_x + table.scrollable_content_region.width, 0, 0
        for column in table.ordered_columns:
            edge += column.get_render_width(table)
            hidden += edge - table.cell_padding > right  # its last padding cell off the view is no column hidden
        hint = self.query_one("#more-columns", Static)
        hint.display = hidden > 0
        hint.update(f"→ {hidden} more {plural('column', hidden)} to the right (esc, then → scrolls)")

    # --- actions ----------------------------------------------------------------------------------
    def action_run_query(self) -> None:
        self.run_sql(self.query_one("#sql", TextArea).text)

    def run_sql(self, sql: str) -> None:
        """Run `sql` (as typed) in a worker; QueryFinished / QueryFailed bring the answer."""
        if not sql.strip():
            self._show_error("the query is empty")
            return
        self._remember(sql)
        self.serial += 1
        self.running = True
        self._status(Text("running…", style="italic"))
        self._query(self.serial, sql)

    def action_export(self) -> None:
        if self.result_sql is None:
            self.notify("Run a query first: export writes the result on screen.", severity="warning")
            return
        default = unique_export_path(Path.cwd())
        sql = self.result_sql

        def chosen(answer: str | None) -> None:
            if answer:
                self._export(Path(answer).expanduser().absolute(), sql)

        self.app.push_screen(PromptScreen(f"Save the result ({self.result_total:,} rows) as CSV:", str(default),
                                          check=check_export_path, placeholder="path/to/file.csv"), chosen)

    def action_focus_examples(self) -> None:
        self.query_one("#examples", OptionList).focus()

    def action_focus_sql(self) -> None:
        self.query_one("#sql", TextArea).focus()

    def action_focus_results(self) -> None:
        self.query_one("#results", DataTable).focus()

    def action_history(self, step: int) -> None:
        if not self.history:
            self.notify("No query run yet in this session.", severity="warning")
            return
        self.history_at = max(0, min(len(self.history) - 1, self.history_at + step))
        self._load(self.history[self.history_at])

    def load_example(self, example: ExampleQuery, run: bool = True) -> None:
        self._load(f"-- {example.why}\n{example.sql}")
        if run:
            self.action_run_query()

    @on(OptionList.OptionSelected, "#examples")
    def _example_chosen(self, event: OptionList.OptionSelected) -> None:
        self.load_example(EXAMPLES[event.option_index])

    # --- workers -------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="query", exit_on_error=False)
    def _query(self, serial: int, sql: str) -> None:
        clock = self.app.clock
        start = clock()
        try:
            with self._reading(sql) as cur:
                if cur is None or cur.description is None:
                    self.post_message(QueryFinished(serial, sql, [], [], 0, clock() - start))
                    return
                columns = [d[0] for d in cur.description]
                raw = cur.fetchmany(MAX_ROWS)
                total = len(raw)
                if total == MAX_ROWS:  # count the rest without keeping it
                    while chunk := cur.fetchmany(50_000):
                        total += len(chunk)
            rows = display_rows(raw)
        except UserError as e:  # a query's error keeps DuckDB's lines (workbench/store/query.py)
            self.post_message(QueryFailed(serial, str(e)))
            return
        except StoreError as e:
            self.post_message(QueryFailed(serial, f"query failed: {whole(e)}"))
            return
        self.post_message(QueryFinished(serial, sql, columns, rows, total, clock() - start))

    @work(thread=True, exclusive=True, group="query-export", exit_on_error=False)
    def _export(self, path: Path, sql: str) -> None:
        """Write the whole result of `sql` (not only the rows shown) with the csv module."""
        n, created = 0, False
        try:
            with self._reading(sql) as cur:
                columns = [d[0] for d in cur.description] if cur is not None and cur.description else []
                with open(path, "x", newline="", encoding="utf-8") as f:
                    created = True
                    w = csv.writer(f, lineterminator="\n")
                    w.writerow(columns)
                    while columns and (chunk := cur.fetchmany(10_000)):
                        w.writerows(["" if v is None else v for v in r] for r in chunk)
                        n += len(chunk)
        except (UserError, StoreError, OSError) as e:
            if created:
                path.unlink(missing_ok=True)  # no half-written file left behind
            self.post_message(ExportFailed(path, one_line(e)))
            return
        self.post_message(ResultsExported(path, n))

    def _reading(self, sql: str):
        """A context giving the cursor of `sql`'s last statement, in a transaction rolled back after."""
        from contextlib import contextmanager

        gate = self.app.gate

        @contextmanager
        def cursor():
            with gate.connect() as con, reading(con, sql) as cur:
                yield cur

        return cursor()

    # --- handlers ------------------------------------------------------------------------------------
    @on(QueryFinished)
    def _query_finished(self, message: QueryFinished) -> None:
        if message.serial != self.serial:
            return
        self.running = False
        self.last_error = None
        self.result_sql, self.result_total = message.sql, message.total
        table = self.query_one("#results", DataTable)
        table.clear(columns=True)
        if message.columns:
            table.add_columns(*message.columns)
            table.add_rows(message.rows)
        status = Text(counted(message.total, "row"), style="bold")
        if message.total > MAX_ROWS:
            status.append(f"  (first {MAX_ROWS:,} shown; ctrl+e exports all)", style="italic")
        if message.elapsed > 0:
            status.append(f"  in {message.elapsed:.2f} s")
        if not message.columns:
            status = Text("done (no result set)")
        self._status(status)

    @on(QueryFailed)
    def _query_failed(self, message: QueryFailed) -> None:
        if message.serial != self.serial:
            return
        self.running = False
        self._show_error(message.error)

    @on(ResultsExported)
    def _results_exported(self, message: ResultsExported) -> None:
        self.notify(f"{message.rows:,} rows written to {message.path}", title="exported")

    @on(ExportFailed)
    def _export_failed(self, message: ExportFailed) -> None:
        self.notify(f"{message.path}: {message.error}", title="export failed", severity="error")

    # --- helpers ---------------------------------------------------------------------------------------
    def _show_error(self, error: str) -> None:
        self.last_error = error
        self.result_sql, self.result_total = None, 0
        self.query_one("#results", DataTable).clear(columns=True)
        self._status(error_lines(error), error=True, plain=error)

    def _status(self, text: Text | Group, error: bool = False, plain: str | None = None) -> None:
        """Show `text` in the status area: one line, or as many as an error has (at most half the screen)."""
        status = self.query_one("#query-status", Static)
        status.set_class(error, "error-text")
        status.styles.height = "auto" if error else None  # None: the one line of query.tcss
        status.styles.max_height = "50%" if error else None
        self._status_plain = plain if plain is not None else str(text)
        status.update(text)

    def _load(self, sql: str) -> None:
        box = self.query_one("#sql", TextArea)
        box.load_text(sql)
        box.move_cursor((0, 0))

    def _remember(self, sql: str) -> None:
        if not self.history or self.history[-1] != sql:
            self.history.append(sql)
            del self.history[:-HISTORY]
        self.history_at = len(self.history)  # one past the newest: ctrl+up gives the newest

    @property
    def status_text(self) -> str:
        """The status area as plain text (what tests and the user read)."""
        return self._status_plain
