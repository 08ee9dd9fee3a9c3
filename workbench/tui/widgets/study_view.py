"""A tune study in the Compare screen's Sweep tab (issue 30 item 4): a summary (the trials by state, the best
trial, Optuna's parameter importances or why there are none), the trials ranked by the study's metric with
each one's params, state and run, and the optimization history plotted (each completed trial's value by
trial number, the best so far as a line). The data is workbench/actions/trials.py's, as `workbench compare
--group G` prints it; the screen re-reads it while trials run (StudyLoaded)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from workbench.actions.trials import StudyTrials
from workbench.console import STATUS_STYLE

STUDY_POLL_S = 2.0  # how often the Sweep tab re-reads a study's journal while it has trials running
LIVE_STATES = ("running", "waiting")


class StudyLoaded(Message):
    """The trials of the compared runs' tune study were read from its journal (None: the group is no tune study)."""

    def __init__(self, study: StudyTrials | None) -> None:
        super().__init__()
        self.study = study


def is_live(study: StudyTrials) -> bool:
    """Whether the study still has trials running (or asked and waiting): the tab keeps re-reading it."""
    return any(t.state in LIVE_STATES for t in study.ranked)


def summary_text(s: StudyTrials) -> Text:
    arrow = "lower" if s.direction == "minimize" else "higher"
    counts = ", ".join(f"{n} {state}" for state, n in s.counts().items())
    t = Text.assemble((f"tune study {s.group}: {len(s.ranked)} trials ranked by {s.metric}", "bold"),
                      f" (validation, tuned; {arrow} is better) · {counts}")
    if is_live(s):
        t.append(" · live", style="cyan")
    best = s.best
    if best is not None and best.value is not None:
        t.append(f"\nbest: trial {best.number}, {s.metric} {best.value:.4f}")
    imp = s.importances
    if imp is not None and imp.values:
        t.append(f"\n{imp.note}: ")
        t.append(" · ".join(f"{k} {v:.2f}" for k, v in imp.values.items()), style="bold")
    elif imp is not None:
        t.append(f"\n{imp.note}", style="dim")
    return t


def show_study(s: StudyTrials, summary: Static, table: DataTable, plot: PlotextPlot, short: dict[str, str]) -> None:
    """Render the study into the Sweep tab's summary, table and plot."""
    summary.update(summary_text(s))
    table.clear(columns=True)
    for col in ("#", "trial", *s.knobs, s.metric, "status", "run"):
        table.add_column(col, key=col)
    rank = 0
    for trial in s.ranked:
        rank += trial.value is not None
        value = "—" if trial.value is None else f"{trial.value:.4f}"
        table.add_row(str(rank) if trial.value is not None else "", str(trial.number),
                      *(trial.params.get(k, "—") for k in s.knobs),
                      Text(value, style="bold" if trial is s.best else ""),
                      Text(trial.state, style=STATUS_STYLE.get(trial.state, "")),
                      short.get(trial.run_id or "", trial.run_id or "—"), key=str(trial.number))
    table.display = True
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    if not s.history:
        plot.display = False
        return
    plot.display = True
    xs = [n for n, _v, _b in s.history]
    plt.title(f"optimization history: {s.metric} by trial")
    steps = [(x, b) for (x, _v, b), (_x, _w, before) in zip(s.history, [s.history[0], *s.history])
             for (x, b) in ((x, before), (x, b))]  # the best so far as steps: it moves only at a better trial
    plt.plot([x for x, _ in steps], [b for _, b in steps], marker="braille", label="best so far")
    plt.scatter(xs, [v for _n, v, _b in s.history], marker="dot", label="trial")  # over the line: each one seen
    plt.xlabel("trial")
    plt.xticks([float(x) for x in xs], [str(x) for x in xs])
    plot.refresh()
