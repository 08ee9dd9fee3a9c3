"""What a finished run leaves beside its events (docs/architecture.md, "Run folder"): eval.targets
judged on the tuned model (a `targets` event), and the result files read off the run's own event file,
so they hold what the store holds: metrics.json (every phase's evaluations but training's epoch
ones, per split and label, as `workbench export` writes it: rundir.metrics_record) and, for a task
that says so (`result_tables`), performance.csv and bias.csv."""

from __future__ import annotations

import json
from typing import Any

from workbench import rundir
from workbench.events import CHUNK_BYTES, Eval, Warnings, read_events
from workbench.metrics.targets import judge
from workbench.tasks.base import EvaluationTask, Scored
from workbench.train.context import RunContext
from workbench.wording import target_word

# The per-label figures performance.csv leads with (any other per-label metric follows by name).
PERFORMANCE = ("precision", "recall", "f1", "support")


def record_targets(ctx: RunContext, tuned: dict[str, Scored]) -> None:
    """eval.targets judged on the tuned model's test split when there is one, else validation: one
    `targets` event (none without targets) and a log line each."""
    targets = ctx.recipe.view.eval.targets
    if not targets:
        return
    split = "test" if "test" in tuned else "validation"
    items = judge(targets, tuned[split].aggregates, split)
    for i in items:
        ctx.log(target_line(i), level="info" if i["met"] else "warning")
    ctx.emit("targets", items=items)


def target_line(i: dict[str, Any]) -> str:
    value = "" if i["value"] is None else f"{i['value']:.4f}, "
    return f"target {i['metric']} {i['target']:g} ({i['split']}): {value}{target_word(i['value'], i['met'])}"


def write_results(ctx: RunContext, task: EvaluationTask) -> None:
    """metrics.json (and the task's CSV tables) from the run's event file: each phase and split's last
    evaluation (a resumed run's earlier attempts included, as the store keeps them)."""
    if not ctx.is_main:
        return
    path = rundir.events_file(ctx.run_dir)
    last: dict[tuple[str, str], Eval] = {}
    warnings: list[str] = []
    read = read_events(path, max_bytes=CHUNK_BYTES)
    while True:
        for e in read.events:
            if isinstance(e, Eval) and e.phase and e.phase != "epoch":
                last.pop((e.phase, e.split), None)  # re-inserted: the dict keeps the order recorded
                last[(e.phase, e.split)] = e
            elif isinstance(e, Warnings):
                warnings = [str(w.get("message", "")) for w in (e.items or []) if isinstance(w, dict)]
        if not read.more:
            break
        read = read_events(path, read.offset, read.line, max_bytes=CHUNK_BYTES)
    evals = list(last.values())
    rows = [(e.phase, e.split, label, metric, value) for e in evals
            for label, metrics in (e.labels or {}).items() for metric, value in metrics.items()]
    rows += [(e.phase, e.split, rundir.ALL_LABELS, metric, value) for e in evals
             for metric, value in (e.aggregates or {}).items()]
    rundir.write_metrics(ctx.run_dir, rundir.metrics_record(ctx.run_id, task.kind, rows, warnings))
    if task.result_tables:
        _write_tables(ctx, evals)


def _write_tables(ctx: RunContext, evals: list[Eval]) -> None:
    """performance.csv: per phase, split and label its precision, recall, F1 and support (then any other
    per-label figure); bias.csv: per phase, split and fairness row (a positive class's bias report rows,
    the eval event's `bias`; `groups` of runs before it) every field of the row, whatever they are."""
    performance = [{"phase": e.phase, "split": e.split, "label": label, **metrics}
                   for e in evals for label, metrics in (e.labels or {}).items()]
    bias = [{"phase": e.phase, "split": e.split, "positive_class": positive, **{k: _cell(v) for k, v in row.items()}}
            for e in evals for positive, report in (e.bias or {}).items()
            for row in (report.get("groups") or []) if isinstance(row, dict)]
    bias += [{"phase": e.phase, "split": e.split, "group": group, **{k: _cell(v) for k, v in row.items()}}
             for e in evals for group, row in (e.groups or {}).items()]
    rundir.write_csv(ctx.run_dir, rundir.PERFORMANCE_CSV, _columns(performance, ("phase", "split", "label",
                                                                                   *PERFORMANCE)), performance)
    rundir.write_csv(ctx.run_dir, rundir.BIAS_CSV, _columns(bias, ("phase", "split", "positive_class",
                                                                   "group_column", "group")), bias)


def _columns(rows: list[dict[str, Any]], first: tuple[str, ...]) -> list[str]:
    """`first`, then every other key the rows hold, in the order first met."""
    seen = dict.fromkeys(first)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(v: Any) -> Any:
    """A CSV cell: a list or table as JSON, anything else as it is."""
    return json.dumps(v) if isinstance(v, (list, dict)) else v
