"""Run detail: a header (status, recipe, model, method, target, host, job, times, parameters),
then tabs that fit 80x24 — tuned metrics, base vs tuned, resolved params, telemetry (per GPU
with a utilisation sparkline; host CPU/RSS), artifacts, the model's mistakes (widgets/errors_pane.py), a
typed text tried on the tuned and base models (widgets/try_pane.py: kept loaded until the screen closes), and
the error with the log tail.

Everything is read in one thread worker and arrives in one message; `r` reads again, the split
selector (shown when the run was evaluated on several splits) reads that split.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Sparkline, Static, TabbedContent, TabPane

from workbench.console import AGGREGATES, confusion_view, delta_text, status_text
from workbench.launch import reckon
from workbench.store import read
from workbench.store.schema import ALL_LABELS
from workbench.tui.clone_run import CLONE_BINDING, ClonesRuns
from workbench.tui.widgets.errors_pane import ErrorsPane
from workbench.tui.widgets.run_tables import run_seconds
from workbench.tui.widgets.table import Table
from workbench.tui.widgets.tabs import TAB_BINDINGS, TabCycling
from workbench.tui.widgets.try_pane import TryPane
from workbench.tui.worker_errors import ReportsWorkerErrors
from workbench.wording import (
    AUC_TITLES,
    auc_missing,
    base_to_tuned,
    bias_summary,
    counted,
    fmt,
    fmt_count,
    fmt_duration,
    group_name,
    target_word,
)

LABEL_METRICS = ("precision", "recall", "f1", "accuracy", "support")
GIB = 1 << 30

class RunDetailLoaded(Message):
    """A run's detail was read from the store."""

    def __init__(self, detail: read.RunDetail, diff: list[tuple], telemetry: list[dict], logs: list[tuple],
                 split: str) -> None:
        super().__init__()
        self.detail, self.diff, self.telemetry, self.logs, self.split = detail, diff, telemetry, logs, split


class RunDetailFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def header_text(r: dict, last_step: tuple | None, now_seconds: float | None, record: tuple[str, ...] | list[str] = ()) -> Text:
    """The run's identity and state in five to seven lines of at most ~80 columns."""
    t = Text()

    def field(name: str, value, style: str = "") -> None:
        t.append(f"{name} ", style="bold")
        t.append(f"{value}", style=style)
        t.append("   ")

    t.append(r["run_id"], style="bold")
    t.append("  ")
    t.append_text(status_text(r["status"], len(r.get("warnings") or []), r.get("targets_met")))
    if r.get("group_id"):
        t.append(f"  group {r['group_id']}")
    t.append("\n")
    field("recipe", r["recipe_name"] or "—")
    field("model", r["model"] or "—")
    field("method", r["method"] or "—")
    t.append("\n")
    field("target", r["target"] or "—")
    field("host", r["host"] or "—")
    job = f"job {r['job_id']}" if r.get("job_id") else f"pid {r['pid']}" if r.get("pid") else "—"
    if (r.get("world_size") or 1) > 1:
        job += f", {r['world_size']} processes"
    field("run", job)
    t.append("\n")
    started = fmt(r["started_at"])
    ended = fmt(r["ended_at"])
    field("created", fmt(r["created_at"]))
    field("started", started[11:] if started[:10] == fmt(r["created_at"])[:10] else started)
    field("ended", ended[11:] if ended[:10] == started[:10] else ended)
    t.append("\n")
    field("duration", fmt_duration(now_seconds))
    tp, total = r.get("trainable_params"), r.get("total_params")
    ratio = f" ({100 * tp / total:.2f} %)" if tp and total else ""
    field("trainable", f"{fmt_count(tp)} of {fmt_count(total)}{ratio}")
    if last_step:
        field("step", f"{last_step[0]} loss {fmt(last_step[1], 4)}")
    if r.get("error"):
        t.append("\n")
        t.append("error ", style="bold")
        t.append(r["error"], style="red")
    for w in r.get("warnings") or []:
        t.append("\n")
        t.append("⚠ ", style="bold yellow")
        t.append(w, style="yellow")
    for note in record:  # an event file read again from its start, or gone (store/ingest.py)
        t.append("\n")
        t.append("⚠ record ", style="bold yellow")
        t.append(note, style="yellow")
    t.rstrip()
    return t


class ResumeFailed(Message):
    """`workbench resume` of this run could not start it (wrong status, host down, scheduler refused)."""

    def __init__(self, run_id: str, error: str) -> None:
        super().__init__()
        self.run_id, self.error = run_id, error


class DetailScreen(ClonesRuns, TabCycling, ReportsWorkerErrors, Screen):
    TABS = "#detail-tabs"
    CSS_PATH = "../styles/detail.tcss"
    # The metrics, not the split selector: with the selector focused, Down opened its list and the
    # next key (m) went into it instead of opening the monitor.
    AUTO_FOCUS = "#label-metrics"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to where you came from"),
        Binding("m", "monitor", "Monitor", tooltip="Follow this run in the monitor"),
        Binding("r", "refresh", "Refresh", tooltip="Read the run from the store again"),
        Binding("R", "resume", "Resume", tooltip="Continue this failed, interrupted or cancelled run from its last "
                "complete checkpoint, after a yes"),
        Binding("e", "export", "Export", show=False, tooltip="Export this run to a folder (`workbench export`): "
                "adapter, labels, thresholds, metrics and a model card"),
        CLONE_BINDING,
        *TAB_BINDINGS,
    ]

    def __init__(self, run_id: str, split: str = "validation") -> None:
        super().__init__()
        self.run_id = run_id
        self.split = split
        self.detail: read.RunDetail | None = None
        self.diff: list[tuple] = []
        self._opened = False
        self._split_options: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="detail-head"):
            yield Static(Text(self.run_id, style="bold"), id="detail-header")
            yield Select([], id="split", prompt="split", allow_blank=True, compact=True)
        with TabbedContent(id="detail-tabs"):
            with TabPane("Metrics", id="tab-metrics"):
                with VerticalScroll():
                    yield Table(id="label-metrics", cursor_type="row", show_cursor=False)
                    yield Static(id="aggregates")
                    yield Static(id="task-sections")
            with TabPane("Base vs tuned", id="tab-diff"):
                yield Table(id="diff-table", cursor_type="row")
            with TabPane("Params", id="tab-params"):
                yield Table(id="params-table", cursor_type="row")
            with TabPane("Telemetry", id="tab-telemetry"):
                yield VerticalScroll(id="telemetry")
            with TabPane("Artifacts", id="tab-artifacts"):
                yield Static(id="artifacts")
            with TabPane("Errors", id="tab-errors"):
                yield ErrorsPane(id="errors-pane")
            with TabPane("Try", id="tab-try"):
                yield TryPane(self.run_id, id="try-pane")
            with TabPane("Log", id="tab-log"):
                with VerticalScroll():
                    yield Static(id="error")
                    yield Static(id="log-tail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.run_id
        self.query_one("#split", Select).display = False
        self.query_one("#task-sections", Static).display = False
        for table_id, cols in (("#label-metrics", ("label", *LABEL_METRICS)),
                               ("#diff-table", ("label", "metric", "base", "tuned", "Δ")),
                               ("#params-table", ("param", "value"))):
            table = self.query_one(table_id, DataTable)
            for c in cols:
                table.add_column(c, key=c)
        self._load(self.split)

    @work(thread=True, exclusive=True, group="detail-load", exit_on_error=False)
    def _load(self, split: str) -> None:
        try:
            with self.app.gate.connect() as con:
                if self.app.follow_enabled:  # a run that ended unfollowed gets recorded (launch/reckon.py)
                    reckon.record(self.app.store, read.runs_in_progress(con))
                detail = read.run_detail(con, self.run_id, split)
                diff = read.base_vs_tuned(con, self.run_id, split)
                telemetry = read.telemetry_series(con, self.run_id, limit=2000)
                logs = read.log_tail(con, self.run_id, limit=200)
        except TypeError:  # no such run: run_detail finds no row
            self.post_message(RunDetailFailed(f"no run {self.run_id} in the store"))
            return
        self.post_message(RunDetailLoaded(detail, diff, telemetry, logs, split))

    @on(RunDetailFailed)
    def _failed(self, message: RunDetailFailed) -> None:
        self.query_one("#detail-header", Static).update(Text(message.error, style="red"))

    @on(RunDetailLoaded)
    def _loaded(self, message: RunDetailLoaded) -> None:
        d = self.detail = message.detail
        self.diff = message.diff
        self.split = message.split
        r = d.run
        seconds = run_seconds(r["status"], r["duration_s"], r["started_at"], self.app.clock)
        self.query_one("#detail-header", Static).update(header_text(r, d.last_step, seconds, d.record))
        self._show_splits(d.splits)
        self._show_metrics(d)
        self._show_diff(message.diff)
        self._show_params(d.params)
        self._show_telemetry(d, message.telemetry)
        self._show_artifacts(d)
        self._show_log(d, message.logs)
        if self.query_one("#detail-tabs", TabbedContent).active == "tab-errors":
            self.query_one(ErrorsPane).show(self.run_id, self.split)
        if not self._opened:
            self._opened = True
            # A run that failed opens on its error; one without metrics yet on its telemetry.
            if r["status"] == "failed":
                self.query_one("#detail-tabs", TabbedContent).active = "tab-log"
            elif not d.per_label and not d.aggregates and (d.gpus or d.hosts[0]):
                self.query_one("#detail-tabs", TabbedContent).active = "tab-telemetry"

    def _show_splits(self, splits: list[str]) -> None:
        select = self.query_one("#split", Select)
        select.display = len(splits) > 1
        if len(splits) > 1:
            options = [(s, s) for s in splits]
            if options != self._split_options:
                self._split_options = options
                select.set_options(options)
            if select.value != self.split:
                with select.prevent(Select.Changed):
                    select.value = self.split

    def _show_metrics(self, d: read.RunDetail) -> None:
        table = self.query_one("#label-metrics", DataTable)
        table.clear()
        for label, vals in d.per_label.items():
            table.add_row(label, *(Text(fmt(vals.get(m)), justify="right") for m in LABEL_METRICS), key=label)
        table.display = bool(d.per_label)
        agg = Text()
        if d.aggregates:
            agg.append(f"tuned aggregates ({self.split})\n", style="bold")
            shown = [m for m in AGGREGATES if m in d.aggregates]
            for i, m in enumerate(shown):
                agg.append(f"{m} ", style="dim")
                agg.append(fmt(d.aggregates[m]))
                agg.append("\n" if i % 4 == 3 else "   ")
            agg.rstrip()
            prior = [m for m in shown if m in d.prior]
            if prior:  # the label prior beside the tuned model: no model, the training labels' frequencies
                agg.append("\nlabel prior  ", style="bold")
                agg.append("   ".join(f"{m} {fmt(d.prior[m])}" for m in prior), style="dim")
        elif d.run["status"] in ("queued", "running"):
            agg.append("no tuned metrics yet: the run is still going", style="dim")
        else:
            agg.append(f"no tuned metrics on the {self.split} split", style="dim")
        if d.targets:  # eval.targets judged at the end (on test when there is one): a finding, not a failure
            agg.append("\ntargets  ", style="bold")
            for metric, split, target, value, met in d.targets:
                agg.append(f"{metric} {fmt(value, 4)} vs {fmt(target, 4)} ({split}) ")
                agg.append(target_word(value, met), style="green" if met else "yellow")
                agg.append("   ")
            agg.rstrip()
        self.query_one("#aggregates", Static).update(agg)
        box = self.query_one("#task-sections", Static)
        box.display = bool(d.fairness or d.confusion)
        t = Text()
        if d.confusion:
            view = confusion_view(d.confusion)
            columns = view.columns
            if view.errors is not None:
                t.append(f"confusion matrix ({self.split}), tuned: {view.summary}\n", style="bold")
                left = max([8, *(len(g) for g, _, _ in view.errors)]) + 2
                for gold, predicted, n in view.errors:
                    t.append(f"  {gold:<{left - 2}} → {predicted}  {n}\n")
            else:
                t.append(f"confusion matrix ({self.split}), tuned: rows gold, columns predicted\n", style="bold")
                width = max(6, *(len(c) for c in columns)) + 1
                left = max(8, *(len(g) for g in d.confusion)) + 2
                t.append(" " * left + "".join(c[:width - 1].rjust(width) for c in columns) + "\n", style="dim")
                for gold, row in d.confusion.items():
                    t.append(f"  {gold:<{left - 2}}")
                    for c in columns:
                        t.append(str(row.get(c, 0)).rjust(width), style="bold" if c == gold else "")
                    t.append("\n")
        if d.fairness:
            t.append(f"fairness per group ({self.split}), base → tuned: FPR (limit) · FNR (limit) · subgroup / "
                     "BPSN / BNSP AUC\n", style="bold")
            n_columns = len({r.group_column for r in d.fairness})
            n_classes = len({r.positive_class for r in d.fairness})
            for r in d.fairness:
                name = group_name(r.group_column, r.group, n_columns)
                if n_classes > 1:
                    name = f"{r.positive_class} · {name}"
                t.append(f"  {name:<20} ")
                t.append(f"FPR {base_to_tuned(r.fpr)} ({fmt(r.max_fpr)}) · FNR {base_to_tuned(r.fnr)} "
                         f"({fmt(r.max_fnr)}) · ", style="bold red" if r.flagged else "")
                t.append(" / ".join(base_to_tuned(r.aucs[m]) if r.aucs[m][1] is not None or m not in r.reasons
                                    else auc_missing(r.reasons[m]) for m in AUC_TITLES))
                t.append("  over a limit\n" if r.flagged else "\n", style="red" if r.flagged else "")
            for label, scores in d.bias.items():
                t.append(bias_summary(label, scores) + "\n", style="dim")
        t.rstrip()
        if d.fairness or d.confusion:
            box.update(t)

    def _show_diff(self, rows: list[tuple]) -> None:
        table = self.query_one("#diff-table", DataTable)
        table.clear()
        last = None
        order = {m: i for i, m in enumerate(("f1", "precision", "recall", "accuracy", "support", *AGGREGATES))}
        ordered = sorted(rows, key=lambda r: (r[0] == ALL_LABELS, r[0], order.get(r[1], len(order)), r[1]))
        for label, metric, base, tuned, delta in ordered:
            if label == ALL_LABELS and metric not in AGGREGATES:
                continue
            name = ("aggregates" if label == ALL_LABELS else label) if label != last else ""
            last = label
            table.add_row(name, metric, Text(fmt(base), justify="right"), Text(fmt(tuned), justify="right"),
                          delta_text(metric, delta), key=f"{label}|{metric}")
        if not rows:
            table.add_row(Text("no base-and-tuned evaluation on this split yet", style="dim"), "", "", "", "",
                          key="empty")

    def _show_params(self, params: list[tuple[str, str]]) -> None:
        table = self.query_one("#params-table", DataTable)
        table.clear()
        for k, v in params:
            table.add_row(k, v, key=k)

    def _show_telemetry(self, d: read.RunDetail, series: list[dict]) -> None:
        box = self.query_one("#telemetry", VerticalScroll)
        box.remove_children()
        widgets: list[Vertical | Static] = []
        for host, gpu, n, util, mem, total, power, temp in d.gpus:
            line = Text()
            line.append(f"gpu{gpu}@{host} ", style="bold")
            line.append(f"util {fmt(util, 0)}% mean  mem {(mem or 0) / GIB:.1f}/{(total or 0) / GIB:.0f} GiB peak")
            if power is not None:
                line.append(f"  {power:.0f} W")
            if temp is not None:
                line.append(f"  {temp:.0f}°C")
            line.append(f"  ({n})", style="dim")
            values = [s["util"] for s in series if s["gpu"] == gpu and s["host"] == host and s["util"] is not None]
            widgets.append(Vertical(Static(line, classes="device-line"),
                                    Sparkline(values, classes="device-spark"), classes="device"))
        n, cpu, rss, ranks = d.hosts
        if n:
            line = Text()
            line.append("host ", style="bold")
            line.append(f"cpu {fmt(cpu, 0)}% mean  RSS {(rss or 0) / GIB:.2f} GiB peak per process  "
                        f"({counted(ranks, 'rank')})")
            parts: list[Static | Sparkline] = [Static(line, classes="device-line")]
            if not d.gpus:
                values = [s["cpu_pct"] for s in series if s["gpu"] is None and s["cpu_pct"] is not None]
                parts.append(Sparkline(values, classes="device-spark"))
            widgets.append(Vertical(*parts, classes="device"))
        if not widgets:
            widgets.append(Static(Text("no telemetry stored for this run", style="dim")))
        box.mount_all(widgets)

    def _show_artifacts(self, d: read.RunDetail) -> None:
        t = Text()
        for kind, path in d.artifacts:
            t.append(f"{kind:<12}", style="bold")
            t.append(f"{path}\n")
        if d.run.get("run_dir"):
            t.append(f"{'folder':<12}", style="bold")
            t.append(f"{d.run['run_dir']}\n")
        if not d.artifacts:
            t.append("no artifacts (adapter, predictions) stored for this run", style="dim")
        t.rstrip()
        self.query_one("#artifacts", Static).update(t)

    def _show_log(self, d: read.RunDetail, logs: list[tuple]) -> None:
        err = Text()
        if d.run.get("error") or d.errors:
            err.append("error\n", style="bold red")
            err.append((d.errors[-1] if d.errors else d.run["error"]).rstrip(), style="red")
        self.query_one("#error", Static).update(err)
        self.query_one("#error", Static).display = bool(err.plain)
        tail = Text()
        for level, message in logs:
            style = "red" if level == "error" else "yellow" if level == "warning" else ""
            tail.append(f"{level:<7} ", style=style or "dim")
            tail.append(f"{message}\n", style=style)
        if not logs:
            tail.append("no log lines stored", style="dim")
        tail.rstrip()
        self.query_one("#log-tail", Static).update(tail)

    # --- actions ------------------------------------------------------------------------------
    @on(TabbedContent.TabActivated, "#detail-tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-errors":  # read when first shown: the prediction files may be large
            self.query_one(ErrorsPane).show(self.run_id, self.split)
        elif event.pane.id == "tab-try":
            self.query_one("#try-input").focus()

    @on(Select.Changed, "#split")
    def _split_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.split:
            self._load(event.value)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self._load(self.split)

    def action_resume(self) -> None:
        from workbench.launch.launcher import RESUMABLE
        from workbench.tui.screens.confirm import ConfirmScreen

        if self.detail is None:
            return
        status, run_dir = self.detail.run["status"], self.detail.run.get("run_dir")
        if status not in RESUMABLE:
            self.notify(f"{self.run_id} is {status}: only a failed, interrupted or cancelled run can be resumed")
            return
        if not run_dir or not Path(run_dir).is_dir():
            self.notify(f"{self.run_id}: its run folder is not on this machine", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._resume()

        self.app.push_screen(ConfirmScreen(f"Resume run {self.run_id} ({status})?\nIt continues from its last "
                                           "complete checkpoint on the target it ran on.", yes="Resume",
                                           no="Leave it"), answered)

    @work(thread=True, group="resume", exit_on_error=False)
    def _resume(self) -> None:
        from workbench.actions.jobs import resume
        from workbench.errors import UserError
        from workbench.tui.messages import RunLaunched

        try:
            done = resume(self.app.store, self.run_id, read_only=False)
        except (UserError, OSError) as e:
            self.post_message(ResumeFailed(self.run_id, str(e)))
            return
        self.post_message(RunLaunched(self.run_id, done.run.run_dir, resumed=True))

    @on(ResumeFailed)
    def _resume_failed(self, message: ResumeFailed) -> None:
        self.notify(message.error, title=f"could not resume {message.run_id}", severity="error")

    def action_clone_run(self) -> None:
        self.clone_run(self.run_id)

    def action_export(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        default = str(Path.cwd() / f"{self.run_id}-export")
        # ignore: the callback returns the worker it starts (Textual drops a callback's value; its type says None)
        self.app.push_screen(PromptScreen(f"Export {self.run_id} to the folder (new or empty)", default),
                             lambda out: self._export(out) if out else None)  # type: ignore[arg-type]

    @work(thread=True, group="detail-export", exit_on_error=False, description="workbench export")
    def _export(self, out: str) -> None:
        from workbench.actions.export.folder import export_run
        from workbench.errors import UserError

        # Notified through the app, not posted to this screen: an export takes a while and the user may
        # have left the screen by the time it is written.
        self.app.call_from_thread(self.notify, f"exporting {self.run_id} to {out}…", title="export")
        try:  # read_only=False: the app's own connections to the store are read-write (tui/store_gate.py)
            done = export_run(self.app.store, self.run_id, out, read_only=False)
        except (UserError, OSError) as e:
            self.app.call_from_thread(self.notify, str(e), title="export failed", severity="error")
            return
        self.app.call_from_thread(self.notify, done.summary, title="exported")

    def action_monitor(self) -> None:
        if self.detail is None:
            return
        run_dir = self.detail.run.get("run_dir")
        if not run_dir or not Path(run_dir).is_dir():
            self.notify(f"{self.run_id}: its run folder is not on this machine", severity="warning")
            return
        self.app.follow_run(self.run_id, Path(run_dir))
        self.app.pop_screen()
        self.app.switch_mode("monitor")
