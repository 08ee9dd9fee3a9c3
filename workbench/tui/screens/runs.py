"""Runs mode: every run of the store in one table — filter, sort, mark, compare, open.

The list is read in a thread worker and filtered / sorted in memory. A 2 s timer re-reads it
while the screen is in front; a reload that changed nothing touches no widget, one that changed
a few rows updates those cells, adds or removes those rows and re-orders (cursor, marks and the
filter are kept). Only a large change of the shown set (typing a filter over 10,000 runs)
rebuilds the table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import get_current_worker

from workbench.launch import reckon
from workbench.store import read
from workbench.tui.clone_run import CLONE_BINDING, ClonesRuns
from workbench.tui.widgets.run_tables import RunTable, main_metric_cell, run_seconds, started_cell, status_cell
from workbench.tui.worker_errors import ReportsWorkerErrors
from workbench.wording import fmt_duration, runs_count, runs_named

REFRESH_S = 2.0
FILTER_DELAY_S = 0.12
REBUILD_OVER = 300  # rows to add / remove above which the table is rebuilt rather than edited
MARK = "●"

# (key, header) in display order; "mark" shows the selection, "run" holds the plain run id.
COLUMNS = (("mark", " "), ("status", "status"), ("run", "run"), ("metric", "f1μ tuned Δbase"), ("time", "time"),
           ("started", "started"), ("method", "method"), ("target", "target"), ("model", "model"),
           ("recipe", "recipe"), ("task", "task"), ("group", "group"))
CELL_COLUMNS = tuple(k for k, _ in COLUMNS if k != "mark")

# Sort orders `s` cycles through: (name, key of a row, newest / highest first by default).
SORTS: tuple[tuple[str, Any, bool], ...] = (
    ("started", lambda r: r["started_at"] or r["created_at"], True),
    ("f1μ", lambda r: r["tuned_f1_micro"], True),
    ("time", lambda r: r["seconds"], True),
    ("status", lambda r: r["status"], False),
    ("run", lambda r: r["run_id"], False),
    ("recipe", lambda r: r["recipe_name"], False),
    ("model", lambda r: r["model"], False),
    ("method", lambda r: r["method"], False),
    ("target", lambda r: r["target"], False),
    ("group", lambda r: r["group_id"], False),
)


class RunListLoaded(Message):
    """The run list was read from the store (rows, their display cells and search text)."""

    def __init__(self, rows: dict[str, dict], raw: dict[str, tuple], cells: dict[str, tuple], hay: dict[str, str],
                 changed: set[str], gone: set[str], fingerprint: tuple, seconds: float) -> None:
        super().__init__()
        self.rows, self.raw, self.cells, self.hay = rows, raw, cells, hay
        self.changed, self.gone, self.fingerprint, self.seconds = changed, gone, fingerprint, seconds


class RunsAnnotated(Message):
    """Runs were tagged, noted, archived or deleted (`what` says which, for the notification; `ids`: the
    runs acted on, whose marks are done with)."""

    def __init__(self, what: str, ids: list[str] | None = None) -> None:
        super().__init__()
        self.what, self.ids = what, ids or []


class RunsNotAnnotated(Message):
    """A tag / note / archive / delete was refused (a run still going) or failed."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RunDirFound(Message):
    """The folder of a run to open in the monitor was looked up."""

    def __init__(self, run_id: str, run_dir: str | None) -> None:
        super().__init__()
        self.run_id, self.run_dir = run_id, run_dir


def row_cells(r: dict) -> tuple:
    return (status_cell(r["status"], r.get("warnings"), r.get("targets_met")), r["run_id"],
            main_metric_cell(r["tuned_f1_micro"], r["base_f1_micro"]),
            fmt_duration(r["seconds"]), started_cell(r["started_at"]), r["method"] or "—", r["target"] or "—",
            r["model"] or "—", r["recipe_name"] or "—", r["task"] or "—", r["group_id"] or "")


def haystack(r: dict) -> str:
    return "\0".join(str(r[k] or "") for k in ("run_id", "recipe_name", "model", "method", "target", "group_id",
                                               "status")).lower()


class RunsScreen(ClonesRuns, ReportsWorkerErrors, Screen):
    CSS_PATH = "../styles/runs.tcss"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", tooltip="Filter runs: id, recipe, model, method, target, group, status"),
        Binding("enter", "open_detail", "Detail", show=False, tooltip="Open the run under the cursor (the table's own enter)"),
        Binding("space", "toggle_mark", "Mark", tooltip="Mark / unmark the run under the cursor (for compare)"),
        Binding("c", "compare_marked", "Compare", tooltip="Compare the marked runs (2 or more)"),
        Binding("g", "compare_group", "Group", tooltip="Compare the runs of the cursor run's group"),
        Binding("m", "monitor", "Monitor", tooltip="Follow the run under the cursor in the monitor"),
        CLONE_BINDING,
        Binding("s", "cycle_sort", "Sort", show=False, tooltip="Sort by the next column (the info line says which)"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="Reverse the sort order"),
        Binding("x", "clear_marks", "Unmark all", show=False, tooltip="Clear every mark"),
        Binding("t", "tag", "Tag", show=False, tooltip="Tag the marked runs shown (or the one under the cursor): key=value"),
        Binding("n", "note", "Note", show=False, tooltip="Add a note to the run under the cursor"),
        Binding("delete", "delete_runs", "Delete", tooltip="Delete the marked runs shown (or the one under the "
                "cursor): store rows, the folder to the trash (`workbench rm --undo RUN` restores); asks first"),
        Binding("a", "archive", "Archive", show=False, tooltip="Archive the marked runs shown (or the one under the "
                "cursor): hidden from this list (`workbench runs --all` shows them); asks first"),
        Binding("G", "gc", "Free checkpoints", show=False, tooltip="Delete the checkpoints of completed runs "
                "(`workbench gc`): adapters, models and reports stay"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Re-read the store now"),
        Binding("escape", "escape", "Back to table", show=False, tooltip="Leave the filter; again: clear it"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.raw: dict[str, tuple] = {}
        self.fingerprint: tuple | None = None
        self.cells: dict[str, tuple] = {}
        self.hay: dict[str, str] = {}
        self.shown: list[str] = []
        self.marks: set[str] = set()
        self.filter_text = ""
        self.sort_index = 0
        self.sort_reverse = False
        self.loaded = False
        self.load_seconds: float | None = None
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filter-bar"):
            yield Static("/", id="filter-label")
            yield Input(placeholder="filter: id, recipe, model, method, target, group, status", id="filter")
            yield Static("", id="info")
        table = RunTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        for key, header in COLUMNS:
            table.add_column(header, key=key)
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#runs-table", DataTable).focus()
        self._reload()
        self.set_interval(REFRESH_S, self._tick)

    def on_screen_resume(self) -> None:
        if self.loaded:
            self._reload()

    def _tick(self) -> None:
        if not self.is_current:
            return
        self._tick_running()
        if any(w.group == "runs-load" and w.node is self and not w.is_finished for w in self.workers):
            return  # a read under way (10,000 runs on a busy machine outlast REFRESH_S): restarting it would starve it
        self._reload()

    def _tick_running(self) -> None:
        """Runs still going: their time by the clock, here (a few rows; the list is re-read
        only when the store moved)."""
        table = self.query_one("#runs-table", DataTable)
        for rid, r in self.rows.items():
            if r["status"] not in ("running", "queued") or r["duration_s"] is not None:
                continue
            r["seconds"] = run_seconds(r["status"], None, r["started_at"], self.app.clock)
            cells = row_cells(r)
            if cells != self.cells[rid]:
                self.cells[rid] = cells
                if rid in table.rows:
                    table.update_cell(rid, "time", cells[CELL_COLUMNS.index("time")])

    # --- loading --------------------------------------------------------------------------
    def _reload(self, force: bool = False) -> None:
        self._load(self.rows, self.raw, self.cells, self.hay, None if force else self.fingerprint)

    # A description given: Textual otherwise builds one from repr() of the arguments, which
    # here are the 10,000-row dicts (200 ms on the UI thread per refresh).
    @work(thread=True, exclusive=True, group="runs-load", exit_on_error=False, description="read the run list")
    def _load(self, prev_rows: dict[str, dict], prev_raw: dict[str, tuple], prev_cells: dict[str, tuple],
              prev_hay: dict[str, str], prev_fingerprint: tuple | None) -> None:
        """Read the list and diff it against the one shown (here, off the UI thread): nothing is
        read while the store's fingerprint stands still; when it moved, only live, just-ended
        and new runs are re-read (the whole list when runs disappeared or came in out of
        order, e.g. from `workbench sync`); display cells are built for changed rows only, and
        nothing is posted when nothing moved."""
        t0 = time.perf_counter()
        with self.app.gate.connect() as con:
            if self.app.follow_enabled:  # runs that ended unfollowed get recorded (launch/reckon.py)
                reckon.record(self.app.store, read.runs_in_progress(con))
            fingerprint = read.runs_fingerprint(con)
            if fingerprint == prev_fingerprint:
                return
            found, partial = None, False
            if prev_rows and prev_fingerprint is not None:
                unfinished = [rid for rid, r in prev_rows.items() if r["status"] in ("queued", "running")]
                newest = max((r["created_at"] for r in prev_rows.values() if r["created_at"] is not None),
                             default=None)
                found = read.list_runs_changed(con, unfinished, newest)
                new_ids = {r["run_id"] for r in found} - prev_rows.keys()
                partial = len(prev_rows) + len(new_ids) == fingerprint[0]
            if not partial:
                found = read.list_runs(con)
        clock = self.app.clock
        if partial:
            rows, raw, cells, hay = dict(prev_rows), dict(prev_raw), dict(prev_cells), dict(prev_hay)
        else:
            rows, raw, cells, hay = {}, {}, {}, {}
        changed = set()
        assert found is not None  # read above: partial, or the whole list
        for r in found:
            r["seconds"] = run_seconds(r["status"], r["duration_s"], r["started_at"], clock)
            rid = r["run_id"]
            rows[rid] = r
            raw[rid] = values = tuple(r.values())
            if prev_raw.get(rid) == values:
                cells[rid], hay[rid] = prev_cells[rid], prev_hay[rid]
                continue
            cells[rid], hay[rid] = row_cells(r), haystack(r)
            if prev_cells.get(rid) != cells[rid]:
                changed.add(rid)
        gone = set(prev_raw) - set(raw)
        if get_current_worker().is_cancelled:
            return
        self.post_message(RunListLoaded(rows, raw, cells, hay, changed, gone, fingerprint, time.perf_counter() - t0))

    @on(RunListLoaded)
    def _loaded(self, message: RunListLoaded) -> None:
        first = not self.loaded
        self.loaded = True
        if self.load_seconds is None:
            self.load_seconds = message.seconds
        self.rows, self.raw, self.cells, self.hay = message.rows, message.raw, message.cells, message.hay
        self.fingerprint = message.fingerprint
        self.marks &= self.rows.keys()
        if first or message.changed or message.gone:
            self._sync(message.changed)

    # --- filter and sort in memory, then edit the table -----------------------------------------
    def view(self) -> list[str]:
        """Run ids matching the filter (every word, case-insensitive), in the sort order."""
        words = self.filter_text.lower().split()
        ids = [rid for rid, h in self.hay.items() if all(w in h for w in words)] if words else list(self.rows)
        _, key, desc = SORTS[self.sort_index]
        desc = desc != self.sort_reverse
        keyed = [(key(self.rows[rid]), rid) for rid in ids]
        have = sorted((k for k in keyed if k[0] is not None), reverse=desc)
        return [rid for _, rid in have] + sorted(rid for k, rid in keyed if k is None)

    def _sync(self, changed: set[str] | frozenset[str] = frozenset()) -> None:
        table = self.query_one("#runs-table", RunTable)
        keep = self.cursor_run()
        want = self.view()
        want_set, have_set = set(want), set(self.shown)
        add, remove = want_set - have_set, have_set - want_set
        if not self.shown or len(add) + len(remove) > REBUILD_OVER:
            table.clear()
            table.add_keyed_rows([(rid, self._row(rid)) for rid in want])
        else:
            for rid in remove:
                table.remove_row(rid)
            for rid in changed & have_set & want_set:
                for key, cell in zip(CELL_COLUMNS, self.cells[rid]):
                    if table.get_cell(rid, key) != cell:
                        table.update_cell(rid, key, cell)
            for rid in add:
                table.add_row(*self._row(rid), key=rid)
            if self.shown != want:
                pos = {rid: i for i, rid in enumerate(want)}
                table.sort("run", key=pos.__getitem__)
        self.shown = want
        if keep in want_set:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._show_info()

    def _row(self, rid: str) -> tuple:
        return (MARK if rid in self.marks else "", *self.cells[rid])

    def _show_info(self) -> None:
        name, _, desc = SORTS[self.sort_index]
        arrow = "↓" if desc != self.sort_reverse else "↑"
        parts = [f"{len(self.shown)} of {len(self.rows)} runs" if self.filter_text.strip() else f"{len(self.rows)} runs",
                 f"s: sort {name} {arrow}"]
        if self.marks:
            hidden = len(self.marks) - len(self.marked_shown())
            parts.append(f"{len(self.marks)} marked" + (f" ({hidden} hidden by the filter: left out)" if hidden else ""))
        if self.loaded and not self.rows:
            parts = ["no runs yet: `workbench run RECIPE` makes one"]
        self.query_one("#info", Static).update(" · ".join(parts))

    def cursor_run(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    # --- filter ----------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY_S, self._apply_filter)

    def _apply_filter(self) -> None:
        self._filter_timer = None
        if self.loaded:
            self._sync()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._apply_filter()
        self.query_one("#runs-table", DataTable).focus()

    def action_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            self._filter_submitted()
        elif box.value:
            box.value = ""  # Input.Changed re-filters

    # --- sort --------------------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.sort_reverse = False
        self._sync()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._sync()

    # --- marks and the ways on ----------------------------------------------------------------
    def action_toggle_mark(self) -> None:
        rid = self.cursor_run()
        if rid is None:
            return
        self.marks ^= {rid}
        table = self.query_one("#runs-table", DataTable)
        table.update_cell(rid, "mark", MARK if rid in self.marks else "")
        table.action_cursor_down()
        self._show_info()

    def action_clear_marks(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        for rid in self.marks & set(self.shown):
            table.update_cell(rid, "mark", "")
        self.marks.clear()
        self._show_info()

    def marked_shown(self) -> list[str]:
        """The marked runs the list shows, in its order: what an action on the marks acts on (a mark
        hidden by the filter is left out, and the info line says so)."""
        return [rid for rid in self.shown if rid in self.marks]

    def action_compare_marked(self) -> None:
        ids = self.marked_shown()
        if len(ids) < 2:
            self.notify("mark two or more runs with space first" + (" (marks hidden by the filter are left out)"
                                                                    if len(self.marks) > len(ids) else ""),
                        severity="warning")
            return
        self._open_compare(ids)

    def action_compare_group(self) -> None:
        rid = self.cursor_run()
        group = self.rows[rid]["group_id"] if rid in self.rows else None
        if not group:
            self.notify("the run under the cursor is in no group", severity="warning")
            return
        members = sorted((r for r, row in self.rows.items() if row["group_id"] == group),
                         key=lambda r: (str(self.rows[r]["created_at"]), r))
        if len(members) < 2:
            self.notify(f"group {group} has one run only", severity="warning")
            return
        self._open_compare(members)

    def _open_compare(self, ids: list[str]) -> None:
        from workbench.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(ids))

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_detail()

    def action_open_detail(self) -> None:
        rid = self.cursor_run()
        if rid is not None:
            from workbench.tui.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(rid))

    def action_clone_run(self) -> None:
        rid = self.cursor_run()
        if rid is not None:
            self.clone_run(rid)

    def action_monitor(self) -> None:
        rid = self.cursor_run()
        if rid is not None:
            self._find_run_dir(rid)

    @work(thread=True, exclusive=True, group="runs-monitor", exit_on_error=False)
    def _find_run_dir(self, run_id: str) -> None:
        with self.app.gate.connect() as con:
            run_dir = read.run_detail(con, run_id).run.get("run_dir")
        self.post_message(RunDirFound(run_id, run_dir))

    @on(RunDirFound)
    def _run_dir_found(self, message: RunDirFound) -> None:
        if not message.run_dir or not Path(message.run_dir).is_dir():
            self.notify(f"{message.run_id}: its run folder is not on this machine", severity="warning")
            return
        self.app.follow_run(message.run_id, Path(message.run_dir))
        self.app.switch_mode("monitor")

    def action_refresh(self) -> None:
        self._reload(force=True)

    # --- a run's life: tag, note, archive, delete, gc (workbench/actions/lifecycle.py) -----------------
    def _targets(self) -> list[str]:
        """The marked runs the list shows, else the one under the cursor."""
        marked = self.marked_shown()
        if marked:
            return marked
        rid = self.cursor_run()
        return [rid] if rid is not None else []

    def _ask(self, question: str, on_answer, placeholder: str = "", check=None) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        self.app.push_screen(PromptScreen(question, placeholder=placeholder, check=check),
                             lambda answer: on_answer(answer) if answer else None)

    def action_tag(self) -> None:
        ids = self._targets()
        if not ids:
            return

        def check(text: str) -> str | None:
            from workbench.actions.lifecycle import parse_tags
            from workbench.errors import UserError

            try:
                parse_tags(text.split())
            except UserError as e:
                return str(e)
            return None

        self._ask(f"Tag {runs_count(len(ids))}:\n{runs_named(ids)}\nkey=value, several separated by spaces; key= removes "
                  "one", lambda text: self._annotate("tag", ids, text), placeholder="baseline=yes", check=check)

    def action_note(self) -> None:
        rid = self.cursor_run()
        if rid is not None:
            self._ask(f"Note on {rid}", lambda text: self._annotate("note", [rid], text))

    def action_archive(self) -> None:
        from workbench.tui.screens.confirm import ConfirmScreen

        ids = self._targets()
        if ids:
            # ignore: the callback returns the worker it starts (Textual drops a callback's value; its type says None)
            self.app.push_screen(ConfirmScreen(f"Archive {runs_count(len(ids))}?\n{runs_named(ids)}\nHidden from this list; "
                                               "`workbench archive --undo RUN` brings one back.", yes="Archive",
                                               no="Keep"),
                                 lambda yes: self._annotate("archive", ids, "") if yes else None)  # type: ignore[arg-type]

    def action_delete_runs(self) -> None:
        ids = self._targets()
        if not ids:
            return
        self._ask(f"Delete {runs_count(len(ids))}?\n{runs_named(ids)}\nType yes: the rows go, the folders to the trash "
                  "(`workbench rm --undo RUN` restores)",
                  lambda text: self._annotate("delete", ids, text),
                  check=lambda text: None if text.lower() == "yes" else "type yes to delete, esc to keep them")

    @work(thread=True, group="runs-annotate", exit_on_error=False, description="tag / note / archive / delete")
    def _annotate(self, action: str, ids: list[str], text: str) -> None:
        from workbench.actions import lifecycle
        from workbench.errors import UserError

        store = self.app.store
        try:
            if action == "tag":
                lifecycle.set_tags(store, ids, lifecycle.parse_tags(text.split()))
                done = f"tagged {', '.join(ids)}: {text}"
            elif action == "note":
                lifecycle.add_note(store, ids[0], text)
                done = f"noted on {ids[0]}"
            elif action == "archive":
                lifecycle.set_archived(store, ids, True)
                done = f"archived {', '.join(ids)} (`workbench runs --all` lists them)"
            else:
                done = lifecycle.delete_runs(store, ids).summary()
        except UserError as e:
            self.post_message(RunsNotAnnotated(str(e)))
            return
        self.post_message(RunsAnnotated(done, ids))

    def action_gc(self) -> None:
        self._gc()

    @work(thread=True, group="runs-gc", exit_on_error=False, description="workbench gc")
    def _gc(self) -> None:
        from workbench.actions.lifecycle import gc
        from workbench.errors import UserError

        try:
            done = gc(self.app.store)
        except UserError as e:
            self.post_message(RunsNotAnnotated(str(e)))
            return
        self.post_message(RunsAnnotated(" ".join([*(f"warning: {w}" for w in done.warnings), done.summary()])))

    @on(RunsAnnotated)
    def _annotated(self, message: RunsAnnotated) -> None:
        table = self.query_one("#runs-table", DataTable)
        for rid in self.marks & set(message.ids):  # marks of other runs (hidden by the filter) stay
            self.marks.discard(rid)
            if rid in table.rows:
                table.update_cell(rid, "mark", "")
        self._show_info()
        self.notify(message.what, title="runs")
        self._reload(force=True)

    @on(RunsNotAnnotated)
    def _not_annotated(self, message: RunsNotAnnotated) -> None:
        self.notify(message.error, title="not done", severity="error")
