"""Rendering for the headless commands (rich): tables, base-vs-tuned diffs, CSV/JSON output."""

from __future__ import annotations

import csv
import heapq
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from workbench.store.schema import ALL_LABELS, LOWER_IS_BETTER, NEUTRAL_METRICS
from workbench.wording import AUC_TITLES, auc_missing, base_to_tuned, bias_summary, fmt, group_name, target_word

if TYPE_CHECKING:
    from workbench.events import Telemetry
    from workbench.store.read import FairnessRow

console = Console(highlight=False)
STATUS_STYLE = {"completed": "green", "running": "cyan", "queued": "blue", "failed": "red",
                "interrupted": "yellow", "cancelled": "yellow", "pruned": "magenta"}
AGGREGATES = ("accuracy", "f1_micro", "f1_macro", "f1_weighted", "f1_samples", "precision_micro", "recall_micro",
              "precision_macro", "recall_macro", "exact_match", "hamming_loss", "loss", "unparseable", "malformed",
              "invented", "groups_flagged")


def telemetry_values(e: Telemetry, compact: bool = False) -> str:
    """One telemetry sample's readings: `97%  31.2/80.0 GiB  245 W  61°C` (a GPU) or
    `cpu 34%  rss 2.10 GiB` (a training process on its host); `compact` for narrow columns."""
    gib = 1 << 30
    unit, sep = ("G", "") if compact else (" GiB", " ")
    if e.get("gpu") is not None:
        parts = [f"{fmt(e.get('util'), 0)}%"]
        if e.get("mem_used") is not None:
            total = (e.get("mem_total") or 0) / gib
            parts.append(f"{e['mem_used'] / gib:.1f}/{total:.0f}{unit}" if compact
                         else f"{e['mem_used'] / gib:.1f}/{total:.1f}{unit}")
        if e.get("power_w") is not None:
            parts.append(f"{e['power_w']:.0f}{sep}W")
        if e.get("temp_c") is not None:
            parts.append(f"{e['temp_c']:.0f}°C")
        return "  ".join(parts)
    return f"cpu {fmt(e.get('cpu_pct'), 0)}%  rss {(e.get('rss_bytes') or 0) / gib:.2f}{unit}"


def status_text(status: str | None, warnings: int = 0, targets_met: bool | None = None) -> Text:
    """The status in its colour; `⚠N` after it when N guardrails fired (runs.warnings); `T✓` when the run
    met every eval.targets, `T✗` when it missed one (runs.targets_met; nothing without targets)."""
    text = Text(status or "—", style=STATUS_STYLE.get(status or "", ""))
    if warnings:
        text.append(f" ⚠{warnings}", style="yellow")
    if targets_met is not None:
        text.append(" T✓" if targets_met else " T✗", style="green" if targets_met else "yellow")
    return text


def delta_text(metric: str, delta: float | None, digits: int = 3) -> Text:
    """A signed delta, green when it is an improvement for this metric, red when worse."""
    if delta is None or metric in NEUTRAL_METRICS:
        return Text("")
    better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
    style = "green" if better else ("red" if round(delta, digits) != 0 else "dim")
    return Text(f"{delta:+.{digits}f}", style=style)


# Classes up to which a confusion matrix is shown whole; past it, its largest cells off the diagonal
# (10,000 classes are 10,000 columns).
CONFUSION_WHOLE_UP_TO = 20
CONFUSION_ERRORS_SHOWN = 20


@dataclass
class ConfusionView:
    """A confusion matrix ({gold: {predicted: n}}, sparse or whole) as `show` and the app show it:
    whole, `columns` across and a row per gold class, or (errors not None) its largest errors."""
    columns: list[str]                            # the classes, then predictions that are no class ("(none)")
    errors: list[tuple[str, str, int]] | None     # (gold, predicted, n), largest first; None: shown whole
    right: int                                    # examples on the diagonal
    total: int

    @property
    def summary(self) -> str:
        return (f"{len(self.columns)} classes, {self.right} of {self.total} right; the {len(self.errors or [])} "
                "largest errors (every cell: table confusion)")


def confusion_view(matrix: dict[str, dict[str, int]]) -> ConfusionView:
    columns = list(dict.fromkeys([*matrix, *(p for row in matrix.values() for p in row)]))
    cells = [(g, p, n) for g, row in matrix.items() for p, n in row.items() if n]
    right = sum(n for g, p, n in cells if g == p)
    total = sum(n for _, _, n in cells)
    if len(columns) <= CONFUSION_WHOLE_UP_TO:
        return ConfusionView(columns, None, right, total)
    # ties in class order (nlargest is stable)
    errors = heapq.nlargest(CONFUSION_ERRORS_SHOWN, (c for c in cells if c[0] != c[1]), key=lambda c: c[2])
    return ConfusionView(columns, errors, right, total)


PRIOR_WORDS = "prior: a constant prediction from the training labels' frequencies"


def diff_tables(rows: Sequence[tuple], metrics: Sequence[str], title: str,
                names: tuple[str, str] = ("base", "tuned"),
                prior: dict[tuple[str, str], float] | None = None) -> list[Table]:
    """rows: (label, metric, base, tuned, delta) from the base_vs_tuned view (or two runs' evaluations:
    `names` says what the two columns are); `prior`: the run's label prior {(label, metric): value}
    (read.prior_evaluation), shown beside them: per label its f1 (or the last metric asked), and
    every aggregate with the tuned model's margin over it.

    One compact cell per metric ("0.27 → 0.65 +0.38"), so three metrics fit 80 columns."""
    prior = prior or {}
    by_label: dict[str, dict[str, tuple]] = {}
    for label, metric, base, tuned, delta in rows:
        by_label.setdefault(label, {})[metric] = (base, tuned, delta)
    shown = ("f1" if "f1" in metrics else metrics[-1]) if metrics else None
    per_prior = shown is not None and any((label, shown) in prior for label in by_label if label != ALL_LABELS)
    per = Table(title=title, title_justify="left", caption=f"each cell: {names[0]}→{names[1]} Δ"
                + (f"; {PRIOR_WORDS}" if per_prior else ""), caption_justify="left")
    width = max([len(label) for label in by_label if label != ALL_LABELS] + [5])
    per.add_column("label", no_wrap=True, min_width=min(width, 24), overflow="ellipsis")
    for m in metrics:
        per.add_column(m, justify="right", no_wrap=True)
    if per_prior:
        per.add_column(f"prior {shown}", justify="right", no_wrap=True)
    for label, vals in by_label.items():
        if label == ALL_LABELS:
            continue
        cells: list[Any] = [label]
        for m in metrics:
            b, t, d = vals.get(m, (None, None, None))
            cells.append(Text.assemble(f"{fmt(b, 2)}→{fmt(t, 2)} ", delta_text(m, d, 2)))
        if per_prior:
            cells.append(fmt(prior.get((label, shown or "")), 2))
        per.add_row(*cells)
    overall = by_label.get(ALL_LABELS, {})
    with_prior = any((ALL_LABELS, m) in prior for m in overall)
    agg = Table(title="aggregates", title_justify="left", caption=PRIOR_WORDS if with_prior else None,
                caption_justify="left")
    for col in ("metric", *names, "Δ", *(("prior", "tuned − prior") if with_prior else ())):
        agg.add_column(col, justify="left" if col == "metric" else "right")
    for m in AGGREGATES:
        if m in overall:
            b, t, d = overall[m]
            cells = [m, fmt(b), fmt(t), delta_text(m, d)]
            if with_prior:
                p = prior.get((ALL_LABELS, m))
                cells += [fmt(p), delta_text(m, None if p is None or t is None else t - p)]
            agg.add_row(*cells)
    return [per, agg]


def evaluation_table(rows: Sequence[tuple], title: str) -> Table:
    """One model's metrics, rows (label, metric, value): a row per label (precision, recall, f1, support),
    the aggregates in the caption."""
    per: dict[str, dict[str, float]] = {}
    for label, metric, value in rows:
        per.setdefault(label, {})[metric] = value
    metrics = [m for m in ("precision", "recall", "f1", "support") if any(m in v for k, v in per.items() if k != ALL_LABELS)]
    t = Table(title=title, title_justify="left")
    t.add_column("label")
    for m in metrics:
        t.add_column(m, justify="right")
    for label, vals in per.items():
        if label != ALL_LABELS:
            t.add_row(label, *(fmt(vals.get(m)) for m in metrics))
    agg = per.get(ALL_LABELS, {})
    t.caption = "  ".join(f"{m} {fmt(agg[m])}" for m in AGGREGATES if m in agg)
    return t


def emit_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt_name: str, *, title: str | None = None,
              styles: dict[str, Any] | None = None) -> None:
    """Print rows as a rich table, CSV or JSON (for scripts)."""
    if fmt_name == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
        return
    if fmt_name == "json":
        out = [dict(zip(columns, r)) for r in rows]
        sys.stdout.write(json.dumps(out, default=str, indent=None) + "\n")
        return
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        cells = []
        for c, v in zip(columns, r):
            style = (styles or {}).get(c)
            cells.append(style(v) if style else fmt(v))
        table.add_row(*cells)
    console.print(table)


def fairness_table(rows: Sequence[FairnessRow], bias: dict[str, dict[str, tuple]], title: str) -> Group:
    """Per positive class, group column and group (read.fairness rows), base → tuned: FPR and FNR
    against their limits (over a limit in red), the bias AUCs (one short of examples says why
    instead of a number); under it each positive class's final score and AUC means."""
    t = Table(title=title, title_justify="left")
    classes = {r.positive_class for r in rows}
    columns = len({r.group_column for r in rows})
    heads = (["class"] if len(classes) > 1 else []) + ["group", "neg", "pos", "fpr", "limit", "fnr", "limit",
                                                       *AUC_TITLES.values(), ""]
    for col in heads:
        t.add_column(col, justify="left" if col in ("class", "group", "") else "right")
    for r in rows:
        over_fpr = r.fpr[1] is not None and r.max_fpr is not None and r.fpr[1] > r.max_fpr
        over_fnr = r.fnr[1] is not None and r.max_fnr is not None and r.fnr[1] > r.max_fnr
        aucs = [base_to_tuned(r.aucs[m]) if r.aucs[m][1] is not None or m not in r.reasons
                else f"[dim]{auc_missing(r.reasons[m])}[/]" for m in AUC_TITLES]
        t.add_row(*([r.positive_class or ""] if len(classes) > 1 else []),
                  group_name(r.group_column, r.group, columns), fmt(r.negatives), fmt(r.positives),
                  f"[red]{base_to_tuned(r.fpr)}[/]" if over_fpr else base_to_tuned(r.fpr), fmt(r.max_fpr),
                  f"[red]{base_to_tuned(r.fnr)}[/]" if over_fnr else base_to_tuned(r.fnr), fmt(r.max_fnr),
                  *aucs, "[red]over the limit[/]" if r.flagged else "")
    summary = [Text(bias_summary(label, scores)) for label, scores in bias.items()]
    return Group(t, *summary)


def targets_table(rows: Sequence[tuple], title: str = "targets (tuned model)") -> Table:
    """eval.targets judged (read.targets rows: metric, split, target, value, met): met in green, not met
    in yellow (a finding, not a failure), a metric the evaluation lacked said so."""
    t = Table(title=title, title_justify="left")
    for col in ("metric", "split", "target", "value", ""):
        t.add_column(col, justify="right" if col in ("target", "value") else "left")
    for metric, split, target, value, met in rows:
        said = target_word(value, met)
        t.add_row(metric, split, fmt(target, 4), fmt(value, 4), f"[green]{said}[/]" if met else f"[yellow]{said}[/]")
    return t


def confusion_table(matrix: dict[str, dict[str, int]], title: str) -> Table | Group:
    """Gold classes down, predicted across, the diagonal (right answers) in bold; past
    CONFUSION_WHOLE_UP_TO classes, the largest errors (gold, predicted, n) under a line saying so."""
    view = confusion_view(matrix)
    if view.errors is not None:
        t = Table()
        for col in ("gold", "predicted", "n"):
            t.add_column(col, justify="right" if col == "n" else "left")
        for gold, predicted, n in view.errors:
            t.add_row(gold, predicted, str(n))
        return Group(Text(f"{title}: {view.summary}", style="table.title"), t)
    t = Table(title=title, title_justify="left")
    t.add_column("gold \\ predicted")
    for c in view.columns:
        t.add_column(c, justify="right")
    for gold, row in matrix.items():
        t.add_row(gold, *(f"[bold]{row.get(c, 0)}[/]" if c == gold else str(row.get(c, 0)) for c in view.columns))
    return t
