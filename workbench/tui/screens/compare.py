"""Compare two or more runs (or a group): what kind of comparison they make first (one sweep, seeds
alone or unrelated runs: workbench/actions/comparable.py, as `workbench compare`), tuned aggregate
metrics side by side with the best of each row highlighted and mean ± std only over runs that differ in
seed alone, per-label values side by side for one metric (`p` cycles f1 / precision / recall), the
params that differ, the runs themselves — runs not completed are flagged (`*` on their column, and a
line saying which) — one sweep's trials ranked (else the params that differ and the metrics side by
side), and their curves overlaid (`m` cycles loss and each epoch-evaluation metric;
workbench/actions/curves.py, as `workbench curves`)."""

from __future__ import annotations

import statistics
from typing import cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from workbench.actions.comparable import ALL_RUNS, SWEEP, Comparable, comparable
from workbench.actions.curves import EVAL_PREFIX, Curves, available_metrics, read_curves
from workbench.actions.trials import StudyTrials, read_trials
from workbench.console import AGGREGATES, STATUS_STYLE
from workbench.store import read
from workbench.store.schema import LOWER_IS_BETTER
from workbench.tui.widgets.run_tables import best_cell, mean_std_text, status_cell
from workbench.tui.widgets.study_view import STUDY_POLL_S, StudyLoaded, is_live, show_study
from workbench.tui.widgets.table import Table
from workbench.tui.widgets.tabs import TAB_BINDINGS, TabCycling
from workbench.tui.worker_errors import ReportsWorkerErrors
from workbench.wording import short_names

LABEL_METRICS = ("f1", "precision", "recall")


class ComparisonLoaded(Message):
    """The comparison of the runs was read from the store."""

    def __init__(self, comparison: read.Comparison, how: Comparable, runs: dict[str, dict], metric: str) -> None:
        super().__init__()
        self.comparison, self.how, self.runs, self.metric = comparison, how, runs, metric


class CurvesLoaded(Message):
    """The runs' curves of one metric were read from the store."""

    def __init__(self, curves: Curves) -> None:
        super().__init__()
        self.curves = curves


def curve_cycle(available: list[str]) -> list[str]:
    """The metrics `m` steps through: the training loss, then each epoch-evaluation metric."""
    return [m for m in available if m == "loss" or m.startswith(EVAL_PREFIX)]


def group_label_stats(c: read.Comparison, how: Comparable) -> dict[str, dict[str, tuple[float, float, int]]]:
    """{seed group: {label: (mean, std, n)}} of the per-label metric over each seed group's runs (runs
    that differ in seed alone)."""
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for group, ids in how.seed_groups.items():
        for label, vals in c.per_label.items():
            xs = [vals[r] for r in ids if vals.get(r) is not None]
            if xs:
                out.setdefault(group, {})[label] = (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0,
                                                    len(xs))
    return out


class CompareScreen(TabCycling, ReportsWorkerErrors, Screen):
    TABS = "#compare-tabs"
    CSS_PATH = "../styles/compare.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to where you came from"),
        Binding("p", "cycle_metric", "Label metric", tooltip="Per-label table: f1 → precision → recall"),
        Binding("r", "refresh", "Refresh", tooltip="Read the runs from the store again"),
        Binding("k", "cycle_knob", "Knob", show=False, tooltip="Sweep tab: plot the metric against the next knob"),
        Binding("m", "cycle_curve", "Curve metric", show=False,
                tooltip="Curves tab: loss → each epoch-evaluation metric"),
        *TAB_BINDINGS,
    ]

    def __init__(self, run_ids: list[str], metric: str = "f1", split: str = "validation") -> None:
        super().__init__()
        self.run_ids = list(dict.fromkeys(run_ids))
        self.metric = metric
        self.split = split
        self.short = short_names(self.run_ids)
        self.comparison: read.Comparison | None = None
        self.comparable: Comparable | None = None  # how the runs compare: one sweep, seeds alone, unrelated
        self.ranking: read.Ranking | None = None
        self.knob = 0  # the sweep knob the plot's x axis shows
        self.curves: Curves | None = None  # the Curves tab's series, as read
        self.study_group: str | None = None  # the one group of every compared run, asked once whether it is a study
        self.study: StudyTrials | None = None  # that group's tune study, as last read (None: no study)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-summary")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Metrics", id="tab-metrics"):
                yield Table(id="metrics-table", cursor_type="row")
            with TabPane("Per label", id="tab-labels"):
                yield Static(id="label-metric")
                yield Table(id="labels-table", cursor_type="row")
            with TabPane("Params", id="tab-params"):
                yield Table(id="params-table", cursor_type="row")
            with TabPane("Runs", id="tab-runs"):
                yield Table(id="runs-table", cursor_type="row")
            with TabPane("Sweep", id="tab-sweep"):
                yield Static(id="sweep-summary")
                yield Table(id="trials-table", cursor_type="row")
                yield PlotextPlot(id="sweep-plot")
            with TabPane("Curves", id="tab-curves"):
                yield Static(id="curves-summary")
                yield PlotextPlot(id="curves-plot")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"compare {len(self.run_ids)} runs"
        self.query_one("#compare-summary", Static).update(Text(f"reading {len(self.run_ids)} runs…", style="dim"))
        self._load(self.metric)
        self._load_curves("loss")

    @work(thread=True, exclusive=True, group="compare-load", exit_on_error=False)
    def _load(self, metric: str) -> None:
        with self.app.gate.connect() as con:
            c = read.compare(con, self.run_ids, self.split, metric)
            runs = {}
            for r in read.list_runs(con):  # the same fields as the browser (status, method, target)
                if r["run_id"] in self.short:
                    runs[r["run_id"]] = r
        self.post_message(ComparisonLoaded(c, comparable(c), runs, metric))

    @work(thread=True, exclusive=True, group="compare-curves", exit_on_error=False)
    def _load_curves(self, metric: str) -> None:
        """`metric`'s curve of each run; the first of curve_cycle when the runs have no `metric`."""
        with self.app.gate.connect() as con:
            cycle = curve_cycle(available_metrics(con, self.run_ids, self.split))
            if cycle:
                curves = read_curves(con, self.run_ids, metric if metric in cycle else cycle[0], self.split)
            else:
                curves = Curves(metric, self.split, [], [])
        self.post_message(CurvesLoaded(curves))

    @on(CurvesLoaded)
    def _curves_loaded(self, message: CurvesLoaded) -> None:
        """Each run's curve overlaid, its short name in the legend, x = step."""
        c = self.curves = message.curves
        summary = self.query_one("#curves-summary", Static)
        plot = self.query_one("#curves-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if not c.curves:
            summary.update(Text(f"these runs have no training steps and no epoch evaluation on {self.split}",
                                style="dim"))
            plot.display = False
            return
        plot.display = True
        evaluated = c.metric.startswith(EVAL_PREFIX)
        t = Text.assemble((c.metric, "bold"), f" by step ({self.split}, epoch evaluations)" if evaluated else " by step",
                          " · m: next metric")
        if c.missing:
            t.append(f"\nno {c.metric}: ", style="yellow")
            t.append(", ".join(self.short.get(r, r) for r in c.missing))
        summary.update(t)
        for curve in c.curves:
            if curve.points:
                plt.plot([s for s, _ in curve.points], [v for _, v in curve.points], marker="braille", label=curve.name)
        plt.title(c.metric)
        plt.xlabel("step")
        plot.refresh()

    def action_cycle_curve(self) -> None:
        c = self.curves
        if c is not None and c.curves:
            cycle = curve_cycle(c.available)
            self._load_curves(cycle[(cycle.index(c.metric) + 1) % len(cycle)] if c.metric in cycle else cycle[0])
        self.query_one("#compare-tabs", TabbedContent).active = "tab-curves"

    def _run_header(self, rid: str, status: str | None) -> Text:
        name = self.short[rid]
        if status != "completed":
            return Text(name + "*", style=STATUS_STYLE.get(status or "", "yellow"))
        return Text(name)

    def _columns(self, table: DataTable, first: str, status: dict[str, str], groups: list[str]) -> None:
        table.clear(columns=True)
        table.add_column(first, key="key")
        for rid in self.run_ids:
            table.add_column(self._run_header(rid, status.get(rid)), key=rid)
        for g in groups:
            name = "mean ± std" if g == ALL_RUNS else f"{g} mean ± std"
            table.add_column(Text(name, style="bold"), key=f"group:{g}")

    @on(ComparisonLoaded)
    def _loaded(self, message: ComparisonLoaded) -> None:
        c = self.comparison = message.comparison
        how = self.comparable = message.how
        self.metric = message.metric
        groups = sorted(how.seed_groups)  # mean ± std columns: only over runs that differ in seed alone
        self._show_summary(c, how)

        metrics = self.query_one("#metrics-table", DataTable)
        self._columns(metrics, f"tuned ({self.split})", c.status, groups)
        stats = {m: how.mean_std(c, m) for m in AGGREGATES}
        for m in [m for m in AGGREGATES if m in c.aggregates] + sorted(set(c.aggregates) - set(AGGREGATES)):
            vals = c.aggregates[m]
            best = c.best(m, vals)
            metrics.add_row(m, *(best_cell(m, vals.get(r), best) for r in self.run_ids),
                            *(Text(mean_std_text(*stats[m][g]) if g in stats.get(m, {}) else "—") for g in groups),
                            key=m)
        if not c.aggregates:
            metrics.add_row(Text("no tuned metrics in these runs", style="dim"), key="empty")

        self._show_labels(c, how, groups)
        self.ranking = how.ranking
        self._show_sweep()
        whole = next((g for g, members in c.groups.items() if len(members) == len(self.run_ids)), None)
        if whole is not None and self.study_group is None:  # one group: a tune study's trials, live while they run
            self.study_group = whole
            self._load_study(whole, None)
            self.set_interval(STUDY_POLL_S, self._tick_study)

        params = self.query_one("#params-table", DataTable)
        self._columns(params, f"differ: {len(how.shown)} of {len(c.params)}", c.status, [])
        for k in how.shown:
            params.add_row(k, *(c.params[k].get(r, "—") for r in self.run_ids), key=k)
        if not how.shown:
            params.add_row(Text("every param is the same", style="dim"), key="empty")

        runs = self.query_one("#runs-table", DataTable)
        runs.clear(columns=True)
        for col in ("", "run", "status", "method", "target", "group"):
            runs.add_column(col, key=col or "short")
        for rid in self.run_ids:
            r = message.runs.get(rid, {})
            runs.add_row(self._run_header(rid, c.status.get(rid)), rid,
                         status_cell(c.status.get(rid), None, c.targets_met.get(rid)),
                         r.get("method") or "—", r.get("target") or "—", r.get("group_id") or "", key=rid)

    @work(thread=True, exclusive=True, group="compare-study", exit_on_error=False)
    def _load_study(self, group: str, before: StudyTrials | None) -> None:
        """The group's tune study from its journal; the importances computed again only when more trials
        completed since `before` (fANOVA fits a forest)."""
        known = before.importances if before is not None else None
        self.post_message(StudyLoaded(read_trials(self.app.store, group, known=known)))

    def _tick_study(self) -> None:
        """Re-read the study while it has trials running (a read under way is left to finish)."""
        s = self.study
        if s is None or not is_live(s) or not self.is_current:
            return
        if any(w.group == "compare-study" and w.node is self and not w.is_finished for w in self.workers):
            return
        self._load_study(s.group, s)

    @on(StudyLoaded)
    def _study_loaded(self, message: StudyLoaded) -> None:
        self.study = message.study
        if message.study is not None:
            self._show_sweep()
            if self.comparison is not None and self.comparable is not None:
                self._show_summary(self.comparison, self.comparable)

    def _show_sweep(self) -> None:
        """One sweep's trials ranked by train.best_metric (mean ± std over seeds), and the metric plotted
        against one knob (k: the next one): each trial a point, each value's mean a line. Runs of no
        one sweep: a line saying ranking needs them, and the params that differ and the metrics side by
        side."""
        r = self.ranking
        summary = self.query_one("#sweep-summary", Static)
        table = self.query_one("#trials-table", DataTable)
        plot = self.query_one("#sweep-plot", PlotextPlot)
        if self.study is not None:  # a tune study: its trials and optimization history (widgets/study_view.py)
            show_study(self.study, summary, table, plot, self.short)
            return
        table.clear(columns=True)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        how, c = self.comparable, self.comparison
        if r is None or how is None or how.kind != SWEEP:
            summary.update(Text("ranking needs runs of one sweep (a [sweep], --sweep or methods make one): the "
                                "params that differ and the metrics side by side", style="dim"))
            plot.display = False
            if how is not None and c is not None:
                self._side_by_side(table, c, how)
            return
        table.display = plot.display = True
        knob = r.knobs[self.knob % len(r.knobs)]
        lower = r.metric in LOWER_IS_BETTER
        summary.update(Text.assemble((f"{len(r.trials)} trials ranked by {r.metric}", "bold"),
                                     f" ({self.split}, tuned; {'lower' if lower else 'higher'} is better) · plot: "
                                     f"{r.metric} against ", (knob, "bold"), " (k: next knob)"))
        targets = any(t.judged for t in r.trials)  # runs that met every eval.targets, of those judged
        for col in ("#", *r.knobs, r.metric, "runs", *(["targets"] if targets else [])):
            table.add_column(col, key=col)
        for i, t in enumerate(r.trials, 1):
            score = "—" if t.mean is None else (mean_std_text(t.mean, t.std or 0.0, t.n) if t.n > 1 else f"{t.mean:.4f}")
            met = [Text(t.targets_text(), style="green" if t.judged and t.met == t.judged else "")] if targets else []
            table.add_row(str(i), *(t.config[k] for k in r.knobs), Text(score, style="bold" if i == 1 else ""),
                          f"{t.n}/{len(t.run_ids)}", *met, key=str(i))
        points = [(t.config[knob], t.mean) for t in r.trials if t.mean is not None]
        xs_text = [x for x, _ in points]
        # "—": trials whose method does not read this knob (lora.r of a full fine-tune); they are
        # plotted as their own category, last, with no mean (the marginal leaves them out)
        valued = [x for x in xs_text if x != "—"]
        numeric = all(_number(x) is not None for x in valued)
        order = sorted(set(valued), key=lambda x: (cast(float, _number(x)) if numeric else valued.index(x)))
        order += ["—"] * ("—" in xs_text)
        position = {x: i for i, x in enumerate(order)}
        plt = plot.plt
        plt.title(f"{r.metric} by {knob}")
        plt.scatter([position[x] for x, _ in points], [y for _, y in points], marker="dot", label="trial")
        means = dict((v, m) for v, m, _n in r.marginal[knob])
        line = [x for x in order if x in means]
        plt.plot([position[x] for x in line], [means[x] for x in line], marker="braille", label="mean")
        plt.xticks(list(range(len(order))), order)
        plot.refresh()

    def _side_by_side(self, table: DataTable, c: read.Comparison, how: Comparable) -> None:
        """The params that differ, then the tuned aggregates, one column per run."""
        self._columns(table, f"({self.split}, tuned)", c.status, [])
        for k in how.shown:
            table.add_row(k, *(c.params[k].get(r, "—") for r in self.run_ids), key=k)
        for m in [m for m in AGGREGATES if m in c.aggregates]:
            vals = c.aggregates[m]
            table.add_row(m, *(best_cell(m, vals.get(r), c.best(m, vals)) for r in self.run_ids), key=m)
        table.display = table.row_count > 0

    def action_cycle_knob(self) -> None:
        if self.ranking is not None and self.study is None:
            self.knob += 1
            self._show_sweep()
            self.query_one("#compare-tabs", TabbedContent).active = "tab-sweep"

    def _show_summary(self, c: read.Comparison, how: Comparable) -> None:
        t = Text()
        t.append(self.study.compared_line(len(self.run_ids)) if self.study is not None else how.line, style="bold")
        t.append(f"\nsplit {self.split} · best of each row underlined")
        for group, (mean, std, n) in sorted(how.mean_std(c, "f1_micro").items()):
            t.append(f"\n{'these runs' if group == ALL_RUNS else f'group {group}'}: f1_micro "
                     f"{mean_std_text(mean, std, n)}")
        for group in sorted(how.mixed):
            t.append(f"\ngroup {group}: {how.mixed_text(group)}", style="dim")
        missing = [r for r in self.run_ids if r not in c.status]
        not_done = [r for r in self.run_ids if r in c.status and c.status[r] != "completed"]
        if not_done:
            t.append("\n* not completed: ", style="yellow")
            t.append(", ".join(f"{self.short[r]} ({c.status[r]})" for r in not_done))
        if missing:
            t.append("\nnot in the store: ", style="red")
            t.append(", ".join(missing))
        self.query_one("#compare-summary", Static).update(t)

    def _show_labels(self, c: read.Comparison, how: Comparable, groups: list[str]) -> None:
        self.query_one("#label-metric", Static).update(
            Text.assemble(("per label: ", "bold"), (self.metric, "bold underline"), f"  ({self.split}; p: next metric)"))
        table = self.query_one("#labels-table", DataTable)
        stats = group_label_stats(c, how)
        self._columns(table, "label", c.status, groups)
        for label, vals in sorted(c.per_label.items()):
            best = c.best(self.metric, vals)
            table.add_row(label, *(best_cell(self.metric, vals.get(r), best) for r in self.run_ids),
                          *(Text(mean_std_text(*stats[g][label]) if label in stats.get(g, {}) else "—")
                            for g in groups), key=label)
        if not c.per_label:
            table.add_row(Text(f"no per-label {self.metric} in these runs", style="dim"), key="empty")

    # --- actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self._load(self.metric)
        self._load_curves(self.curves.metric if self.curves is not None else "loss")

    def action_cycle_metric(self) -> None:
        self._load(LABEL_METRICS[(LABEL_METRICS.index(self.metric) + 1) % len(LABEL_METRICS)]
                   if self.metric in LABEL_METRICS else LABEL_METRICS[0])
        self.query_one("#compare-tabs", TabbedContent).active = "tab-labels"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None

