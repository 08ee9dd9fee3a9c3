"""Reading the store: `runs`, `show`, `diff`, `compare`, `query`."""

from __future__ import annotations

import sys
import time
from datetime import UTC

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from workbench.actions.refs import resolve_run
from workbench.commands.common import store_of
from workbench.console import AGGREGATES, console, diff_tables, emit_rows, fmt, fmt_count, fmt_duration, status_text
from workbench.errors import UserError
from workbench.launch import reckon
from workbench.store import read
from workbench.store.db import connect
from workbench.store.schema import ALL_LABELS, LOWER_IS_BETTER


def runs(args) -> int:
    from workbench.commands.lifecycle import RUN_STATUSES

    if args.status and args.status not in RUN_STATUSES:
        raise UserError(f"--status {args.status!r}: expected one of {', '.join(RUN_STATUSES)}")
    tags: dict[str, str | None] = {}
    for item in args.tag or []:
        key, eq, value = item.partition("=")
        tags[key.strip()] = value.strip() if eq else None
    # each unfinished run's status as its folder and job say now (launch/reckon.py), written nowhere
    found, notes = reckon.list_runs(store_of(args), status=args.status, recipe=args.recipe, limit=args.limit,
                                    tags=tags, archived=args.all)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    cols = [c for c in read.RUN_LIST_COLUMNS if c not in ("task", "created_at", "ended_at")]
    rows = [tuple(r[c] for c in cols) for r in found]
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
        ("run", 0, lambda r: r[0]), ("status", 0, lambda r: status_text(r[1], len(r[-1] or []))), ("recipe", 3, lambda r: r[2]),
        ("model", 4, lambda r: r[3]), ("method", 1, lambda r: r[4]), ("target", 3, lambda r: r[5]),
        ("started", 2, lambda r: r[6].strftime("%m-%d %H:%M") if r[6] else "—"),
        ("time", 1, lambda r: fmt_duration(r[7])), ("step", 4, lambda r: fmt(r[8])),
        ("f1μ base", 1, lambda r: fmt(r[9])), ("f1μ tuned", 0, lambda r: fmt(r[10])),
        ("f1M tuned", 2, lambda r: fmt(r[11])), ("group", 3, lambda r: r[12] or "")]
    run_w = max(len(r[0]) for r in rows)
    budget = console.width - run_w - 4
    keep = []
    for prio in range(5):
        for header, p, _ in columns:
            if p == prio and header != "run":
                need = 3 + max(len(header), 12 if header in ("recipe", "model", "group") else 9)
                if budget >= need:
                    keep.append(header)
                    budget -= need
    table = Table(title=f"runs ({len(rows)})", title_justify="left")
    shown = [c for c in columns if c[0] == "run" or c[0] in keep]
    for header, _, _ in shown:
        table.add_column(header, no_wrap=header in ("run", "status", "started", "time"), overflow="fold",
                         justify="right" if header.startswith(("f1", "step", "time")) else "left")
    for r in rows:
        table.add_row(*(cell(r) for _, _, cell in shown))
    console.print(table)
    return 0


def _utc(t: float):
    from datetime import datetime

    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None)


def _job_text(r: dict) -> str:
    parts = [f"job {r['job_id']}" if r["job_id"] else f"pid {r['pid']}" if r["pid"] else ""]
    if r["world_size"] and r["world_size"] > 1:
        parts.append(f"{r['world_size']} processes")
    return ", ".join(p for p in parts if p)


def _telemetry_text(gpus: list[tuple], hosts: tuple) -> list[str]:
    """One line per GPU (mean utilisation, peaks) and one for the hosts, from every stored sample."""
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
                     f"({n} samples, {ranks} rank{'s' if ranks != 1 else ''}){'' if gpus else '; no GPU samples'}")
    return lines


def show(args) -> int:
    with connect(store_of(args), read_only=True) as con:
        run_id = resolve_run(con, args.run)
        d = read.run_detail(con, run_id, args.split)
    now, notes = reckon.detail(store_of(args), d.run)  # an unfinished run's status now (launch/reckon.py)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    r, params, agg, last, artifacts, errors = d.run, d.params, d.aggregates, d.last_step, d.artifacts, d.errors
    gpus, hosts = d.gpus, d.hosts

    duration = r["duration_s"]
    if duration is None and r["status"] == "running" and r["started_at"]:
        duration = time.time() - r["started_at"].replace(tzinfo=UTC).timestamp()  # stored as UTC
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    ratio = (f" ({100 * r['trainable_params'] / r['total_params']:.2f} %)"
             if r["trainable_params"] and r["total_params"] else "")
    for k, v in (("run", run_id), ("status", status_text(r["status"])),
                 ("recipe", f"{r['recipe_name']}  {r['recipe_path'] or ''}"),
                 ("description", r["description"] or ""), ("task", r["task"]), ("model", r["model"]),
                 ("method", r["method"]), ("target", r["target"]), ("host", r["host"] or ""),
                 ("job", _job_text(r)),
                 ("created", fmt(r["created_at"])), ("started", fmt(r["started_at"])), ("ended", fmt(r["ended_at"])),
                 ("duration", fmt_duration(duration)),
                 ("parameters", f"trainable {fmt_count(r['trainable_params'])} of {fmt_count(r['total_params'])}{ratio}"),
                 ("last step", f"{last[0]}  loss {fmt(last[1], 4)}" if last else "—"),
                 ("group", r["group_id"] or ""), ("folder", r["run_dir"] or "")):
        head.add_row(k, v)
    for line in _telemetry_text(gpus, hosts):
        head.add_row("telemetry", line)
    if r["error"]:
        head.add_row("error", f"[red]{r['error']}[/]")
    for w in r.get("warnings") or []:
        head.add_row("warning", f"[yellow]{escape(w)}[/]")
    for note in d.record:  # an event file read again from its start, or gone (store/ingest.py)
        head.add_row("record", f"[yellow]{escape(note)}[/]")
    if d.tags:
        head.add_row("tags", escape(", ".join(f"{k}={v}" for k, v in d.tags.items())))
    for t, text in d.notes:
        head.add_row("note", f"[dim]{fmt(_utc(t))}[/] {escape(text)}")
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
    elif r["status"] in ("queued", "running"):
        console.print("[dim]no tuned metrics yet: the run is still going[/]")
    elif now is not None and now.settled:
        console.print("[dim]the run has ended; what it recorded is in its folder, not yet in the store: "
                      "`workbench sync` stores it[/]")
    if d.fairness:
        console.print(fairness_table(d.fairness, f"fairness: false-positive rate per group ({args.split})"))
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


def diff(args) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if len(args.runs) == 2:
        return diff_runs(args, metrics)
    if len(args.runs) != 1:
        raise UserError("diff takes one run (base vs tuned) or two (run A vs run B)")
    with connect(store_of(args), read_only=True) as con:
        run_id = resolve_run(con, args.runs[0])
        rows = read.base_vs_tuned(con, run_id, args.split)
        groups = read.fairness(con, run_id, args.split)
        status = read.run_status(con, run_id)
    if not rows:
        raise UserError(f"run {run_id} ({status}) has no base-and-tuned evaluation on the {args.split} split yet")
    for t in diff_tables(rows, metrics, f"base vs tuned — {run_id} ({args.split})"):
        console.print(t)
    improved = sum(1 for label, m, b, tu, d in rows if label != ALL_LABELS and m == "f1" and d is not None and d > 0)
    labels = len({label for label, *_ in rows if label != ALL_LABELS})
    console.print(f"f1 improved on {improved} of {labels} labels")
    if groups:
        console.print(fairness_table(groups, f"fairness: false-positive rate per group ({args.split})"))
        flagged = [g for g, *_, flag, _n in groups if flag]
        if flagged:
            console.print(f"[red]over their false-positive limit after tuning:[/] {', '.join(flagged)}")
    return 0


def diff_runs(args, metrics: list[str]) -> int:
    """Two runs' evaluations (each one's tuned, or evaluated, model) side by side per label and metric."""
    with connect(store_of(args), read_only=True) as con:
        a, b = (resolve_run(con, r) for r in args.runs)
        got = {r: {(label, m): v for label, m, v in read.evaluation(con, r, args.split)} for r in (a, b)}
    for r in (a, b):
        if not got[r]:
            raise UserError(f"run {r} has no evaluation on the {args.split} split")
    keys = sorted(set(got[a]) | set(got[b]))
    rows = [(label, m, got[a].get((label, m)), got[b].get((label, m)),
             None if got[a].get((label, m)) is None or got[b].get((label, m)) is None
             else got[b][(label, m)] - got[a][(label, m)]) for label, m in keys if m != "threshold"]
    short = ("A", "B")
    console.print(f"A = {a}\nB = {b}", markup=False)
    for t in diff_tables(rows, metrics, f"A vs B ({args.split})", names=short):
        console.print(t)
    better = sum(1 for label, m, x, y, d in rows if label != ALL_LABELS and m == "f1" and d is not None and d > 0)
    labels = len({label for label, *_ in rows if label != ALL_LABELS})
    console.print(f"f1 higher in B on {better} of {labels} labels")
    return 0


def compare(args) -> int:
    with connect(store_of(args), read_only=True) as con:
        ids = [resolve_run(con, r) for r in args.runs]
        if args.group:
            members = read.group_members(con, args.group)
            if not members:
                raise UserError(f"no runs in group {args.group!r} (`workbench runs` shows each run's group)")
            ids += [m for m in members if m not in ids]
        if len(ids) < 2:
            raise UserError("compare needs two or more runs (run ids, or --group G)")
        c = read.compare(con, ids, args.split, args.metric)
    short = {rid: rid if len(rid) <= 28 else "…" + rid[-27:] for rid in ids}

    t = Table(title=f"params that differ ({len(c.differing)} of {len(c.params)})", title_justify="left")
    t.add_column("param")
    for rid in ids:
        t.add_column(short[rid], overflow="fold")
    for k in c.differing:
        t.add_row(k, *(c.params[k].get(rid, "—") for rid in ids))
    console.print(t)

    def side_by_side(title: str, vals: dict[str, dict[str, float]], keys) -> None:
        table = Table(title=title, title_justify="left")
        table.add_column("")
        for rid in ids:
            table.add_column(short[rid], justify="right")
        for key in keys or sorted(vals):
            if key in vals:
                best = c.best(key, vals[key])
                table.add_row(key, *(f"[bold]{fmt(vals[key].get(r))}[/]" if vals[key].get(r) == best and best is not None
                                     else fmt(vals[key].get(r)) for r in ids))
        console.print(table)

    if c.resources:
        t = Table(title="what each run cost", title_justify="left")
        t.add_column("")
        for rid in ids:
            t.add_column(short[rid], justify="right")
        for name in read.RESOURCES:
            if name in c.resources:
                t.add_row(RESOURCE_LABELS[name], *(_resource_text(name, c.resources[name].get(r)) for r in ids))
        console.print(t)
    side_by_side(f"tuned metrics ({args.split})", c.aggregates, AGGREGATES)
    side_by_side(f"per label: {args.metric} ({args.split})", c.per_label, None)
    for group, ids_in in c.groups.items():
        stats = [f"{m} {mean:.3f} ± {std:.3f}" for m in AGGREGATES
                 for g, (mean, std, n) in c.group_stats(m).items() if g == group and m in MEAN_STD]
        console.print(f"group {group} (n={len(ids_in)}): " + ", ".join(stats))
    ranking = read.rank_trials(c)
    if ranking is not None and len(ranking.trials) > 1:
        print_ranking(ranking, args.split)
    not_done = [rid for rid in ids if c.status.get(rid) != "completed"]
    if not_done:
        console.print(f"[yellow]not completed:[/] {', '.join(f'{r} ({c.status.get(r)})' for r in not_done)}")
    return 0


def print_ranking(r: read.Ranking, split: str) -> None:
    """The trials best first by train.best_metric (mean ± std over seeds), then each knob's marginal effect."""
    arrow = "lower is better" if r.metric in LOWER_IS_BETTER else "higher is better"
    t = Table(title=f"trials ranked by {r.metric} ({split}, tuned; {arrow})", title_justify="left")
    t.add_column("#", justify="right")
    for k in r.knobs:
        t.add_column(k)
    t.add_column(r.metric, justify="right")
    t.add_column("runs", justify="right")
    for i, trial in enumerate(r.trials, 1):
        score = "—" if trial.mean is None else f"{trial.mean:.4f}" + (f" ± {trial.std:.4f}" if trial.n > 1 else "")
        t.add_row(str(i), *(trial.config[k] for k in r.knobs), f"[bold]{score}[/]" if i == 1 else score,
                  f"{trial.n}/{len(trial.run_ids)}")
    console.print(t)
    m = Table(title=f"marginal effect of each knob: mean {r.metric} over the trials with that value",
              title_justify="left")
    for col in ("knob", "value", r.metric, "trials"):
        m.add_column(col, justify="right" if col in (r.metric, "trials") else "left")
    for k, rows in r.marginal.items():
        for j, (value, mean, n) in enumerate(rows):
            m.add_row(k if j == 0 else "", value, f"{mean:.4f}", str(n))
    console.print(m)


RESOURCE_LABELS = {"trainable_params": "trainable params", "total_params": "total params", "duration_s": "wall time",
                   "train_runtime_s": "training time", "train_samples_per_s": "samples/s (training)",
                   "peak_mem_bytes": "peak memory", "saved_bytes": "saved on disk"}
MEAN_STD = ("accuracy", "f1_micro", "f1_macro", "loss")


def _resource_text(name: str, v) -> str:
    if v is None:
        return "—"
    if name.endswith("_bytes"):
        return f"{v / 2**20:,.1f} MiB" if v < 2**30 else f"{v / 2**30:,.2f} GiB"
    if name in ("duration_s", "train_runtime_s"):
        return fmt_duration(v)
    if name.endswith("_params"):
        return fmt_count(v)
    return f"{v:,.1f}"


def fairness_table(rows: list[tuple], title: str) -> Table:
    """Per target group: false-positive rate base → tuned against its limit; over the limit in red."""
    t = Table(title=title, title_justify="left")
    for col in ("group", "negatives", "fpr base", "fpr tuned", "limit", ""):
        t.add_column(col, justify="left" if col in ("group", "") else "right")
    for grp, base, tuned, limit, flagged, negatives in rows:
        t.add_row(grp, fmt(negatives), fmt(base), f"[red]{fmt(tuned)}[/]" if flagged else fmt(tuned), fmt(limit),
                  "[red]over the limit[/]" if flagged else "")
    return t


def confusion_table(matrix: dict[str, dict[str, int]], title: str) -> Table | Group:
    """Gold classes down, predicted across, the diagonal (right answers) in bold; past
    CONFUSION_WHOLE_UP_TO classes, the largest errors (gold, predicted, n) under a line saying so."""
    from rich.text import Text

    from workbench.console import confusion_view

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


def query(args) -> int:
    from workbench.store.db import StoreError
    from workbench.store.query import query_error, run_sql

    with connect(store_of(args), read_only=True) as con:
        cur = run_sql(con, args.sql)  # a failure: DuckDB's whole message (hints, caret), exit status 2
        if cur.description is None:
            return 0
        cols = [d[0] for d in cur.description]
        try:
            rows = cur.fetchall()
        except StoreError as e:  # an error met while reading the rows, not at the start
            raise query_error(e) from None
    emit_rows(cols, rows, args.format)
    return 0

