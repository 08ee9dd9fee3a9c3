"""Reading the store, for `workbench runs`, `show`, `diff`, `compare` and `query`: each action resolves
the runs it is given, reads what the command shows and returns it; the store is opened read-only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from workbench.actions.comparable import Comparable, comparable
from workbench.actions.refs import resolve_run
from workbench.actions.trials import StudyTrials, read_trials
from workbench.errors import UserError
from workbench.events import RUN_STATUSES
from workbench.launch import reckon
from workbench.store import read
from workbench.store.db import connect
from workbench.store.schema import ALL_LABELS
from workbench.wording import group_name


@dataclass(frozen=True)
class RunList:
    """`runs`: the runs selected, newest first, each a dict keyed by read.RUN_LIST_COLUMNS, an unfinished
    run's status as its folder and job say now (launch/reckon.py, written nowhere); `notes`: one line per
    run whose status could not be asked."""

    runs: list[dict[str, Any]]
    notes: list[str]


def list_runs(store: Path, *, status: str | None = None, recipe: str | None = None,
              tags: dict[str, str | None] | None = None, archived: bool = False, limit: int = 50) -> RunList:
    """The runs with `status` (now), of `recipe`, with every tag of `tags` ({key: value, or None for any
    value}); archived ones only with `archived`; the `limit` most recent (0: all)."""
    if status and status not in RUN_STATUSES:
        raise UserError(f"--status {status!r}: expected one of {', '.join(RUN_STATUSES)}")
    found, notes = reckon.list_runs(store, status=status, recipe=recipe, limit=limit, tags=tags or {},
                                    archived=archived)
    return RunList(found, notes)


@dataclass(frozen=True)
class RunReport:
    """`show`: a run's stored detail on `split` (its status reckoned now when the store calls it
    unfinished); `now` that reckoning (None for a finished run), `notes` what could not be asked;
    `duration_s` its wall time, so far for a run still going."""

    run_id: str
    split: str
    detail: read.RunDetail
    now: reckon.Reckoned | None
    notes: list[str]
    duration_s: float | None


def run_report(store: Path, ref: str, split: str = "validation") -> RunReport:
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, ref)
        d = read.run_detail(con, run_id, split)
    now, notes = reckon.detail(store, d.run)
    r = d.run
    duration = r["duration_s"]
    if duration is None and r["status"] == "running" and r["started_at"]:
        duration = time.time() - r["started_at"].replace(tzinfo=UTC).timestamp()  # stored as UTC
    return RunReport(run_id, split, d, now, notes, duration)


@dataclass(frozen=True)
class EvalDiff:
    """`diff`: two evaluations per label and metric; `rows` (label, metric, first, second, second - first),
    the label ALL_LABELS holding the aggregates. Base vs tuned of one run (`runs` its id) or run A vs run B
    (`runs` both ids). `f1_up`: labels (not ALL_LABELS) whose f1 the second is higher on, of `labels`;
    `fairness`: read.fairness rows of a base-vs-tuned diff (none for A vs B), `bias` its read.bias_scores;
    `prior`: the run's label prior, {(label, metric): value} (read.prior_evaluation; none for A vs B)."""

    runs: tuple[str, ...]
    split: str
    rows: list[tuple]
    f1_up: int
    labels: int
    fairness: list[read.FairnessRow]
    bias: dict[str, dict[str, tuple]]
    prior: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def flagged(self) -> list[str]:
        """The groups over a limit (false-positive or false-negative rate) after tuning, each once."""
        columns = len({r.group_column for r in self.fairness})
        return list(dict.fromkeys(group_name(r.group_column, r.group, columns) for r in self.fairness if r.flagged))


def _eval_diff(runs: tuple[str, ...], split: str, rows: list[tuple], fairness: list[read.FairnessRow],
               bias: dict[str, dict[str, tuple]] | None = None,
               prior: dict[tuple[str, str], float] | None = None) -> EvalDiff:
    up = sum(1 for label, m, _a, _b, d in rows if label != ALL_LABELS and m == "f1" and d is not None and d > 0)
    labels = len({label for label, *_ in rows if label != ALL_LABELS})
    return EvalDiff(runs, split, rows, up, labels, fairness, bias or {}, prior or {})


def base_vs_tuned(store: Path, ref: str, split: str = "validation") -> EvalDiff:
    """The base model vs the tuned model of one run."""
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, ref)
        rows = read.base_vs_tuned(con, run_id, split)
        groups = read.fairness(con, run_id, split)
        bias = read.bias_scores(con, run_id, split)
        status = read.run_status(con, run_id)
        prior = read.prior_evaluation(con, run_id, split)
    if not rows:
        raise UserError(f"run {run_id} ({status}) has no base-and-tuned evaluation on the {split} split yet")
    return _eval_diff((run_id,), split, rows, groups, bias, prior)


def two_runs(store: Path, ref_a: str, ref_b: str, split: str = "validation") -> EvalDiff:
    """Two runs' evaluations (each one's tuned, or evaluated, model), A then B."""
    with connect(store, read_only=True) as con:
        a, b = resolve_run(con, ref_a), resolve_run(con, ref_b)
        got = {r: {(label, m): v for label, m, v in read.evaluation(con, r, split)} for r in (a, b)}
    for r in (a, b):
        if not got[r]:
            raise UserError(f"run {r} has no evaluation on the {split} split")
    keys = sorted(set(got[a]) | set(got[b]))
    rows = [(label, m, got[a].get((label, m)), got[b].get((label, m)),
             None if got[a].get((label, m)) is None or got[b].get((label, m)) is None
             else got[b][(label, m)] - got[a][(label, m)]) for label, m in keys if m != "threshold"]
    return _eval_diff((a, b), split, rows, [])


@dataclass(frozen=True)
class Compared:
    """`compare`: the runs in order (those named, then the group's others), their read.Comparison on
    `split` (params, costs, metrics, `metric` per label) and how they compare (actions/comparable.py:
    one sweep ranked, seeds alone with mean ± std, or the params that differ side by side)."""

    ids: list[str]
    split: str
    metric: str
    comparison: read.Comparison
    comparable: Comparable
    study: StudyTrials | None = None  # --group G of a tune study: its trials ranked, importances (actions/trials.py)

    @property
    def ranking(self) -> read.Ranking | None:
        """The sweep's trials ranked (None: the runs are no one sweep)."""
        return self.comparable.ranking

    @property
    def not_completed(self) -> list[str]:
        return [rid for rid in self.ids if self.comparison.status.get(rid) != "completed"]


def compare_runs(store: Path, refs: list[str], *, group: str | None = None, split: str = "validation",
                 metric: str = "f1") -> Compared:
    """Two or more runs: those `refs` name and every run of `group` (a tune study's: its trials too)."""
    with connect(store, read_only=True) as con:
        ids = [resolve_run(con, r) for r in refs]
        if group:
            members = read.group_members(con, group)
            if not members:
                raise UserError(f"no runs in group {group!r} (`workbench runs` shows each run's group)")
            ids += [m for m in members if m not in ids]
        if len(ids) < 2:
            raise UserError("compare needs two or more runs (run ids, or --group G)")
        c = read.compare(con, ids, split, metric)
    return Compared(ids, split, metric, c, comparable(c), read_trials(store, group) if group else None)


@dataclass(frozen=True)
class QueryResult:
    """`query`: the result's column names and rows (both empty for a statement that returns none)."""

    columns: list[str]
    rows: list[tuple]


def query(store: Path, sql: str) -> QueryResult:
    """Run read-only SQL on the store; a failure is DuckDB's whole message (hints, caret) as a UserError."""
    from workbench.store.db import StoreError
    from workbench.store.query import query_error, run_sql

    with connect(store, read_only=True) as con:
        cur = run_sql(con, sql)
        if cur.description is None:
            return QueryResult([], [])
        cols = [d[0] for d in cur.description]
        try:
            rows = cur.fetchall()
        except StoreError as e:  # an error met while reading the rows, not at the start
            raise query_error(e) from None
    return QueryResult(cols, rows)
