"""`workbench runs`, `show`, `diff`, `compare`, `query`: read the store (workbench/actions/browse.py) and
render what they return on the console."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.cli.parsing import RUN_HELP, Subparsers, command, store_of
from workbench.events import RUN_STATUSES

if TYPE_CHECKING:
    from workbench.actions.trials import StudyTrials
    from workbench.store.read import Ranking


def register(sub: Subparsers) -> None:
    sp = command(sub, "runs", "List runs from the store (archived runs only with --all).", _runs)
    sp.add_argument("--status", help=f"only runs with this status ({', '.join(RUN_STATUSES)})")
    sp.add_argument("--tag", action="append", metavar="KEY[=VALUE]", help="only runs with this tag (repeatable)")
    sp.add_argument("--all", action="store_true", help="archived runs too")
    sp.add_argument("--recipe", help="only runs of this recipe name")
    sp.add_argument("--limit", type=int, default=50, help="most recent N runs (default 50; 0: all)")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sp = command(sub, "show", "A run: recipe, status, timings, parameter counts, per-label metrics.", _show)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--split", default="validation")

    sp = command(sub, "diff", "Base model vs tuned model of a run (and its label prior), or two runs' evaluations (A vs B), "
                 "per label and metric, with deltas.", _diff)
    sp.add_argument("runs", nargs="+", metavar="RUN", help="one run (base vs tuned) or two (A vs B): run id, unique "
                    "prefix or suffix, or 'last'")
    sp.add_argument("--split", default="validation")
    sp.add_argument("--metrics", default="precision,recall,f1", help="comma-separated per-label metrics")

    sp = command(sub, "compare", "Runs side by side: the params that differ, what each cost (parameters, time, memory, "
                 "size on disk), and their metrics; a group's mean ± std.", _compare)
    sp.add_argument("runs", nargs="*", help="two or more run ids (unique prefixes or suffixes, 'last')")
    sp.add_argument("--group", help="compare every run of this group (seed sweep, methods comparison)")
    sp.add_argument("--split", default="validation")
    sp.add_argument("--metric", default="f1", help="per-label metric to put side by side (default f1)")

    tables, views = _store_names()
    sp = command(sub, "query", f"Run SQL on the store (read-only). Tables: {', '.join(tables)}; views: "
                 f"{', '.join(views)} (docs/store.md).", _query)
    sp.add_argument("sql")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _runs(args: argparse.Namespace) -> int:
    from rich.table import Table

    from workbench.actions.browse import list_runs
    from workbench.console import console, emit_rows, status_text
    from workbench.store import read
    from workbench.wording import fmt, fmt_duration

    tags: dict[str, str | None] = {}
    for item in args.tag or []:
        key, eq, value = item.partition("=")
        tags[key.strip()] = value.strip() if eq else None
    found = list_runs(store_of(args), status=args.status, recipe=args.recipe, tags=tags, archived=args.all,
                      limit=args.limit)
    for note in found.notes:
        print(f"warning: {note}", file=sys.stderr)
    cols = [c for c in read.RUN_LIST_COLUMNS if c not in ("task", "created_at", "ended_at")]
    rows = [tuple(r[c] for c in cols) for r in found.runs]
    if args.format != "table":
        emit_rows(cols, rows, args.format)
        return 0
    if not rows:
        asked = [f"status {args.status}" if args.status else "", f"recipe {args.recipe}" if args.recipe else "",
                 ", ".join(f"tag {k}={v}" if v is not None else f"tag {k}" for k, v in tags.items())]
        if any(asked):
            console.print(f"no runs with {' and '.join(a for a in asked if a)}"
                          + ("" if args.all else " (archived runs left out: --all shows them)"))
        else:
            console.print("no runs yet: `workbench run recipes/demo/encoder_multilabel.toml` makes one"
                          + ("" if args.all else " (archived runs are left out: --all shows them)"))
        return 0
    # Columns by priority: on an 80-column login-node terminal the low-priority ones are dropped.
    columns = [  # (header, priority, cell)
        ("run", 0, lambda r: r[0]), ("status", 0, lambda r: status_text(r[1], len(r[13] or []), r[14])),
        ("recipe", 3, lambda r: r[2]),
        ("model", 4, lambda r: r[3]), ("method", 1, lambda r: r[4]), ("target", 3, lambda r: r[5]),
        ("started", 2, lambda r: r[6].strftime("%m-%d %H:%M") if r[6] else "—"),
        ("time", 1, lambda r: fmt_duration(r[7])), ("step", 4, lambda r: fmt(r[8])),
        ("f1μ base", 1, lambda r: fmt(r[9])), ("f1μ tuned", 0, lambda r: fmt(r[10])),
        ("f1M tuned", 2, lambda r: fmt(r[11])), ("group", 3, lambda r: r[12] or "")]
    def need(header: str) -> int:
        return 3 + max(len(header), 12 if header in ("recipe", "model", "group") else 9)

    # A long id (an evaluation run of a long recipe name) wraps in its column rather than pushing
    # out the status, the tuned score and the duration: the id column is capped to leave them room.
    first = ("status", "f1μ tuned", "time")
    run_w = min(max(len(r[0]) for r in rows), max(48, console.width - 4 - sum(need(h) for h in first)))
    budget = console.width - run_w - 4
    keep = []
    for header, _, _ in sorted(columns, key=lambda c: (c[1], c[0] not in first)):
        if header != "run" and budget >= need(header):
            keep.append(header)
            budget -= need(header)
    table = Table(title=f"runs ({len(rows)})", title_justify="left")
    shown = [c for c in columns if c[0] == "run" or c[0] in keep]
    for header, _, _ in shown:
        table.add_column(header, no_wrap=header in ("status", "started", "time"), overflow="fold",
                         max_width=run_w if header == "run" else None,
                         justify="right" if header.startswith(("f1", "step", "time")) else "left")
    for r in rows:
        table.add_row(*(cell(r) for _, _, cell in shown))
    console.print(table)
    return 0


def _job_text(r: dict[str, Any]) -> str:
    parts = [f"job {r['job_id']}" if r["job_id"] else f"pid {r['pid']}" if r["pid"] else ""]
    if r["world_size"] and r["world_size"] > 1:
        parts.append(f"{r['world_size']} processes")
    return ", ".join(p for p in parts if p)


def _telemetry_text(gpus: list[tuple], hosts: tuple) -> list[str]:
    """One line per GPU (mean utilisation, peaks) and one for the hosts, from every stored sample."""
    from workbench.wording import counted, fmt

    gib = 1 << 30
    lines = []
    for host, gpu, n, util, mem, total, power, temp in gpus:
        line = f"gpu{gpu}@{host}: util {fmt(util, 0)}% mean, memory peak {(mem or 0) / gib:.1f}/{(total or 0) / gib:.1f} GiB"
        if power is not None:
            line += f", {power:.0f} W peak"
        if temp is not None:
            line += f", {temp:.0f}°C peak"
        lines.append(line + f" ({n} samples)")
    n, cpu, rss, ranks = hosts
    if n:
        lines.append(f"host: cpu {fmt(cpu, 0)}% mean, RSS peak {(rss or 0) / gib:.2f} GiB per process "
                     f"({n} samples, {counted(ranks, 'rank')}){'' if gpus else '; no GPU samples'}")
    return lines


def _show(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from workbench.actions.browse import run_report
    from workbench.console import AGGREGATES, confusion_table, console, fairness_table, status_text, targets_table
    from workbench.wording import fmt, fmt_count, fmt_duration

    report = run_report(store_of(args), args.run, args.split)
    for note in report.notes:
        print(f"warning: {note}", file=sys.stderr)
    d, run_id, now = report.detail, report.run_id, report.now
    r, params, agg, last, artifacts, errors = d.run, d.params, d.aggregates, d.last_step, d.artifacts, d.errors

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    ratio = (f" ({100 * r['trainable_params'] / r['total_params']:.2f} %)"
             if r["trainable_params"] and r["total_params"] else "")
    for k, v in (("run", run_id), ("status", status_text(r["status"], targets_met=r.get("targets_met"))),
                 ("recipe", f"{r['recipe_name']}  {r['recipe_path'] or ''}"),
                 ("description", r["description"] or ""), ("task", r["task"]), ("model", r["model"]),
                 ("method", r["method"]), ("target", r["target"]), ("host", r["host"] or ""),
                 ("job", _job_text(r)),
                 ("created", fmt(r["created_at"])), ("started", fmt(r["started_at"])), ("ended", fmt(r["ended_at"])),
                 ("duration", fmt_duration(report.duration_s)),
                 ("parameters", f"trainable {fmt_count(r['trainable_params'])} of {fmt_count(r['total_params'])}{ratio}"),
                 ("last step", f"{last[0]}  loss {fmt(last[1], 4)}" if last else "—"),
                 ("group", r["group_id"] or ""), ("folder", r["run_dir"] or "")):
        head.add_row(k, v)
    for line in _telemetry_text(d.gpus, d.hosts):
        head.add_row("telemetry", line)
    if r["error"]:
        head.add_row("error", f"[red]{r['error']}[/]")
    for w in r.get("warnings") or []:
        head.add_row("warning", f"[yellow]{escape(w)}[/]")
    for note in d.record:  # an event file read again from its start, or gone (store/ingest.py)
        head.add_row("record", f"[yellow]{escape(note)}[/]")
    if d.tags:
        head.add_row("tags", escape(", ".join(f"{k}={v}" for k, v in d.tags.items())))
    for when, text in d.notes:
        head.add_row("note", f"[dim]{fmt(datetime.fromtimestamp(when, UTC).replace(tzinfo=None))}[/] {escape(text)}")
    if r.get("archived"):
        head.add_row("archived", "yes (hidden from `workbench runs` unless --all)")
    if r.get("kind") == "eval":
        head.add_row("evaluates", escape(r.get("evaluates") or ""))
    if r.get("mlflow_run_id"):
        head.add_row("mlflow", escape(f"run {r['mlflow_run_id']} at {r.get('mlflow_uri') or '?'}"))
    console.print(head)

    if d.per_label:
        rows = d.per_label
        metrics = [m for m in ("precision", "recall", "f1", "accuracy", "support")
                   if any(m in vals for vals in rows.values())]  # single-label classes have no per-class accuracy
        t = Table(title=f"tuned model, per label ({args.split})", title_justify="left")
        t.add_column("label")
        for m in metrics:
            t.add_column(m, justify="right")
        for label, vals in rows.items():
            t.add_row(label, *(fmt(vals.get(m)) for m in metrics))
        console.print(t)
        console.print("  ".join(f"[bold]{m}[/] {fmt(agg[m])}" for m in AGGREGATES if m in agg))
        if d.prior:  # the label prior beside the tuned model, the same metrics
            console.print("[dim]label prior (a constant prediction from the training labels' frequencies):[/] "
                          + "  ".join(f"{m} {fmt(d.prior[m])}" for m in AGGREGATES if m in agg and m in d.prior))
    elif r["status"] in ("queued", "running"):
        console.print("[dim]no tuned metrics yet: the run is still going[/]")
    elif now is not None and now.settled:
        console.print("[dim]the run has ended; what it recorded is in its folder, not yet in the store: "
                      "`workbench sync` stores it[/]")
    if d.targets:
        console.print(targets_table(d.targets))
    if d.fairness:
        console.print(fairness_table(d.fairness, d.bias, f"fairness per group ({args.split}), base → tuned"))
    if d.confusion:
        console.print(confusion_table(d.confusion, f"tuned model, confusion matrix ({args.split})"))
    if errors:
        console.print("[red]error log:[/]")
        console.print(errors[-1].rstrip(), markup=False)
    if artifacts:
        console.print("[bold]artifacts[/]")
        for kind, path in artifacts:
            console.print(f"  {kind:12} {path}", markup=False)
    console.print(f"[bold]recipe[/] ({len(params)} params): " + ", ".join(
        f"{k}={v}" for k, v in params if k.startswith(("model.", "lora.", "train.learning_rate", "train.epochs",
                                                       "train.batch_size"))), soft_wrap=True)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from workbench.actions.browse import base_vs_tuned, two_runs
    from workbench.console import console, diff_tables, fairness_table
    from workbench.errors import UserError

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if len(args.runs) == 2:
        d = two_runs(store_of(args), args.runs[0], args.runs[1], args.split)
        console.print(f"A = {d.runs[0]}\nB = {d.runs[1]}", markup=False)
        for t in diff_tables(d.rows, metrics, f"A vs B ({args.split})", names=("A", "B")):
            console.print(t)
        console.print(f"f1 higher in B on {d.f1_up} of {d.labels} labels")
        return 0
    if len(args.runs) != 1:
        raise UserError("diff takes one run (base vs tuned) or two (run A vs run B)")
    d = base_vs_tuned(store_of(args), args.runs[0], args.split)
    for t in diff_tables(d.rows, metrics, f"base vs tuned — {d.runs[0]} ({args.split})", prior=d.prior):
        console.print(t)
    console.print(f"f1 improved on {d.f1_up} of {d.labels} labels")
    if d.fairness:
        console.print(fairness_table(d.fairness, d.bias, f"fairness per group ({args.split}), base → tuned"))
        if d.flagged:
            console.print(f"[red]over a limit after tuning:[/] {', '.join(d.flagged)}", highlight=False)
    return 0


RESOURCE_LABELS = {"trainable_params": "trainable params", "total_params": "total params", "duration_s": "wall time",
                   "train_runtime_s": "training time", "train_samples_per_s": "samples/s (training)",
                   "peak_mem_bytes": "peak memory", "saved_bytes": "saved on disk"}
MEAN_STD = ("accuracy", "f1_micro", "f1_macro", "loss")
PRIOR_SHOWN = ("loss", "accuracy", "f1_micro", "f1_macro")


def _resource_text(name: str, v: Any) -> str:
    from workbench.wording import fmt_count, fmt_duration

    if v is None:
        return "—"
    if name.endswith("_bytes"):
        return f"{v / 2**20:,.1f} MiB" if v < 2**30 else f"{v / 2**30:,.2f} GiB"
    if name in ("duration_s", "train_runtime_s"):
        return fmt_duration(v)
    if name.endswith("_params"):
        return fmt_count(v)
    return f"{v:,.1f}"


def _compare(args: argparse.Namespace) -> int:
    from rich.table import Table

    from workbench.actions.browse import compare_runs
    from workbench.actions.comparable import ALL_RUNS, short_params
    from workbench.console import AGGREGATES, console
    from workbench.store import read
    from workbench.wording import fmt, short_names

    done = compare_runs(store_of(args), args.runs, group=args.group, split=args.split, metric=args.metric)
    ids, c, how = done.ids, done.comparison, done.comparable
    short = short_names(ids)  # the columns: short names, each run's whole id on a line of its own
    console.print(how.line if done.study is None else done.study.compared_line(len(ids)), markup=False)
    for rid in ids:
        if short[rid] != rid:
            console.print(f"  {short[rid]:<{max(map(len, short.values()))}}  {rid}", markup=False)

    def run_columns(table: Table, justify: str = "left") -> None:
        for rid in ids:  # a header never cut: its column at least as wide as the short name
            table.add_column(short[rid], justify=justify, overflow="fold", min_width=len(short[rid]))  # type: ignore[arg-type]

    names = short_params(how.shown)
    t = Table(title=f"params that differ ({len(how.shown)} of {len(c.params)})", title_justify="left")
    t.add_column("param", no_wrap=True)
    run_columns(t)
    for k in how.shown:
        t.add_row(names[k], *(c.params[k].get(rid, "—") for rid in ids))
    console.print(t)

    def side_by_side(title: str, vals: dict[str, dict[str, float]], keys: tuple[str, ...] | None) -> None:
        table = Table(title=title, title_justify="left")
        table.add_column("")
        run_columns(table, "right")
        for key in keys or sorted(vals):
            if key in vals:
                best = c.best(key, vals[key])
                table.add_row(key, *(f"[bold]{fmt(vals[key].get(r))}[/]" if vals[key].get(r) == best and best is not None
                                     else fmt(vals[key].get(r)) for r in ids))
        console.print(table)

    if c.resources:
        t = Table(title="what each run cost", title_justify="left")
        t.add_column("")
        run_columns(t, "right")
        for name in read.RESOURCES:
            if name in c.resources:
                t.add_row(RESOURCE_LABELS[name], *(_resource_text(name, c.resources[name].get(r)) for r in ids))
        console.print(t)
    side_by_side(f"tuned metrics ({args.split})", c.aggregates, AGGREGATES)
    if c.prior:  # each run's label prior (no model: its training labels' frequencies), the headline metrics
        side_by_side(f"label prior ({args.split}): a constant prediction from each run's training labels",
                     c.prior, PRIOR_SHOWN)
    side_by_side(f"per label: {args.metric} ({args.split})", c.per_label, None)
    stats = {m: how.mean_std(c, m) for m in AGGREGATES if m in MEAN_STD}
    groups = {**how.seed_groups, **{g: c.groups[g] for g in how.mixed}}
    for group, ids_in in groups.items():  # mean ± std: only over runs that differ in seed alone
        line = [f"{m} {mean:.3f} ± {std:.3f}" for m in stats for g, (mean, std, n) in stats[m].items() if g == group]
        judged = [c.targets_met[r] for r in ids_in if r in c.targets_met]
        if judged:  # eval.targets: the runs that met every one, of those judged
            line.append(f"targets met {sum(judged)}/{len(judged)}")
        if group in how.mixed:
            line.append(how.mixed_text(group))
        name = f"the {len(ids_in)} runs" if group == ALL_RUNS else f"group {group} (n={len(ids_in)})"
        console.print(f"{name}: " + ", ".join(line))
    if done.study is not None:  # a tune study: its trials as the study ranks them, not the sweep's ranking
        _print_study(done.study, short)
    elif done.ranking is not None and len(done.ranking.trials) > 1:
        _print_ranking(done.ranking, args.split)
    if done.not_completed:
        console.print(f"[yellow]not completed:[/] {', '.join(f'{r} ({c.status.get(r)})' for r in done.not_completed)}")
    return 0


def _print_study(s: StudyTrials, short: dict[str, str]) -> None:
    """A tune study's trials, the completed best first by the study's metric, each one's params, state
    and run; below, Optuna's parameter importances (or the one line why there are none)."""
    from rich.table import Table

    from workbench.console import STATUS_STYLE, console

    arrow = "lower is better" if s.direction == "minimize" else "higher is better"
    counts = ", ".join(f"{n} {state}" for state, n in s.counts().items())
    console.print(f"tune study {s.group}: trials ranked by {s.metric} (validation, tuned; {arrow}) · {counts}",
                  markup=False)
    t = Table()
    for col in ("#", "trial", *s.knobs, s.metric, "status", "run"):
        t.add_column(col, justify="right" if col in ("#", "trial", s.metric) else "left")
    rank = 0
    for trial in s.ranked:
        rank += trial.value is not None
        value = "—" if trial.value is None else f"{trial.value:.4f}"
        t.add_row(str(rank) if trial.value is not None else "", str(trial.number),
                  *(trial.params.get(k, "—") for k in s.knobs), f"[bold]{value}[/]" if trial is s.best else value,
                  f"[{STATUS_STYLE.get(trial.state, '')}]{trial.state}[/]" if trial.state in STATUS_STYLE
                  else trial.state, short.get(trial.run_id or "", trial.run_id or "—"))
    console.print(t)
    imp = s.importances
    if imp is None or not imp.values:
        if imp is not None:
            console.print(imp.note, markup=False)
        return
    console.print(imp.note, markup=False)
    m = Table()
    m.add_column("knob")
    m.add_column("importance", justify="right")
    for knob, share in imp.values.items():
        m.add_row(knob, f"{share:.3f}")
    console.print(m)


def _print_ranking(r: Ranking, split: str) -> None:
    """The trials best first by train.best_metric (mean ± std over seeds), then each knob's marginal effect."""
    from rich.table import Table

    from workbench.console import console
    from workbench.store.schema import LOWER_IS_BETTER

    arrow = "lower is better" if r.metric in LOWER_IS_BETTER else "higher is better"
    t = Table(title=f"trials ranked by {r.metric} ({split}, tuned; {arrow})", title_justify="left")
    t.add_column("#", justify="right")
    for k in r.knobs:
        t.add_column(k)
    t.add_column(r.metric, justify="right")
    t.add_column("runs", justify="right")
    targets = any(trial.judged for trial in r.trials)
    if targets:
        t.add_column("targets", justify="right")  # runs that met every eval.targets, of those judged
    for i, trial in enumerate(r.trials, 1):
        score = "—" if trial.mean is None else f"{trial.mean:.4f}" + (f" ± {trial.std:.4f}" if trial.n > 1 else "")
        t.add_row(str(i), *(trial.config[k] for k in r.knobs), f"[bold]{score}[/]" if i == 1 else score,
                  f"{trial.n}/{len(trial.run_ids)}", *([trial.targets_text()] if targets else []))
    console.print(t)
    m = Table(title=f"marginal effect of each knob: mean {r.metric} over the trials with that value",
              title_justify="left")
    for col in ("knob", "value", r.metric, "trials"):
        m.add_column(col, justify="right" if col in (r.metric, "trials") else "left")
    for k, rows in r.marginal.items():
        for j, (value, mean, n) in enumerate(rows):
            m.add_row(k if j == 0 else "", value, f"{mean:.4f}", str(n))
    console.print(m)


def _store_names() -> tuple[list[str], list[str]]:
    """The store's tables and views, read from its DDL (workbench/store/schema.py), for `query --help`."""
    from workbench.store import schema

    return (re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", schema.TABLES),
            re.findall(r"CREATE OR REPLACE VIEW (\w+)", schema.VIEWS))


def _query(args: argparse.Namespace) -> int:
    from workbench.actions.browse import query
    from workbench.console import console, emit_rows
    from workbench.wording import counted

    result = query(store_of(args), args.sql)
    if result.columns:
        emit_rows(result.columns, result.rows, args.format)
        if args.format == "table":
            console.print(counted(len(result.rows), "row"))
    return 0
