"""Reading the store for people: the queries behind `runs` / `show` / `diff` / `compare` and the
TUI's browser, detail, compare and monitor screens. Plain data out (dicts, tuples, dataclasses),
no rendering, so the CLI (rich) and the TUI (textual) share one query per concern."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from workbench import rundir
from workbench.store.schema import ALL_LABELS, LOWER_IS_BETTER

# Columns of the runs browser / `workbench runs`, in display order.
RUN_LIST_COLUMNS = ("run_id", "status", "recipe_name", "task", "model", "method", "target", "started_at",
                    "duration_s", "last_step", "base_f1_micro", "tuned_f1_micro", "tuned_f1_macro", "group_id",
                    "created_at", "ended_at", "warnings", "targets_met")


def list_runs(con, *, status: str | tuple[str, ...] | None = None, recipe: str | None = None, limit: int = 0,
              tags: dict[str, str | None] | None = None, archived: bool = False) -> list[dict[str, Any]]:
    """Runs, newest first, as dicts keyed by RUN_LIST_COLUMNS. `status`: one, or any of several;
    `tags`: {key: value} the runs carry (value None: any value); archived runs only with `archived`."""
    where, params = [], []
    if status:
        statuses = (status,) if isinstance(status, str) else status
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        params += list(statuses)
    if recipe:
        where.append("recipe_name = ?")
        params.append(recipe)
    if not archived:
        where.append("NOT archived")
    for key, value in (tags or {}).items():
        if value is None:
            where.append("run_id IN (SELECT run_id FROM tags WHERE key = ?)")
            params.append(key)
        else:
            where.append("run_id IN (SELECT run_id FROM tags WHERE key = ? AND value = ?)")
            params += [key, value]
    sql = (f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM run_summary"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, run_id"
           + (f" LIMIT {int(limit)}" if limit else ""))
    return [dict(zip(RUN_LIST_COLUMNS, row)) for row in con.execute(sql, params).fetchall()]


@dataclass
class RunDetail:
    run: dict[str, Any]
    params: list[tuple[str, str]]
    per_label: dict[str, dict[str, float]]           # tuned model, {label: {metric: value}}
    aggregates: dict[str, float]                     # tuned model, {metric: value}
    last_step: tuple[int, float | None] | None
    artifacts: list[tuple[str, str]]                 # (kind, path), checkpoints left out
    errors: list[str]
    gpus: list[tuple]        # (host, gpu, samples, mean util, peak mem, mem total, peak power, peak temp)
    hosts: tuple             # (samples, mean cpu %, peak rss, ranks)
    splits: list[str] = field(default_factory=list)
    fairness: list[FairnessRow] = field(default_factory=list)   # read.fairness rows of the split
    bias: dict[str, dict[str, tuple]] = field(default_factory=dict)  # read.bias_scores of the split
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # the tuned model's, on the split
    tags: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[float, str]] = field(default_factory=list)        # (unix time, text), oldest first
    record: list[str] = field(default_factory=list)  # `record_notes`: an event file read again, or gone
    targets: list[tuple] = field(default_factory=list)  # read.targets rows: eval.targets judged
    prior: dict[str, float] = field(default_factory=dict)  # the label prior's aggregates on the split ({}: none)


def run_detail(con, run_id: str, split: str = "validation") -> RunDetail:
    tags, notes = run_annotations(con, run_id)
    cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
    run = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    per_label: dict[str, dict[str, float]] = {}
    for label, metric, value in con.execute(
            "SELECT label, metric, value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = ? "
            "AND label <> ? ORDER BY seq", [run_id, split, ALL_LABELS]).fetchall():
        per_label.setdefault(label, {})[metric] = value
    return RunDetail(
        run=run,
        params=con.execute("SELECT key, value FROM params WHERE run_id = ? ORDER BY key", [run_id]).fetchall(),
        per_label=per_label,
        aggregates=dict(con.execute(
            "SELECT metric, value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = ? AND label = ?",
            [run_id, split, ALL_LABELS]).fetchall()),
        last_step=con.execute("SELECT step, loss FROM steps WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                              [run_id]).fetchone(),
        artifacts=con.execute("SELECT kind, path FROM artifacts WHERE run_id = ? AND kind <> 'checkpoint' "
                              "ORDER BY seq", [run_id]).fetchall(),
        errors=[m for (m,) in con.execute("SELECT message FROM logs WHERE run_id = ? AND level = 'error' "
                                          "ORDER BY seq", [run_id]).fetchall()],
        gpus=con.execute(
            """SELECT host, gpu, count(*), avg(util), max(mem_used), max(mem_total), max(power_w), max(temp_c)
               FROM telemetry WHERE run_id = ? AND gpu IS NOT NULL GROUP BY ALL ORDER BY host, gpu""",
            [run_id]).fetchall(),
        hosts=con.execute(
            """SELECT count(*), avg(cpu_pct), max(rss_bytes), count(DISTINCT rank) FROM telemetry
               WHERE run_id = ? AND gpu IS NULL""", [run_id]).fetchone(),
        splits=[s for (s,) in con.execute("SELECT DISTINCT split FROM evals WHERE run_id = ? ORDER BY split",
                                          [run_id]).fetchall()],
        fairness=fairness(con, run_id, split), bias=bias_scores(con, run_id, split),
        confusion=confusion(con, run_id, split),
        tags=tags,
        notes=notes,
        record=record_notes(con, run_id),
        targets=targets(con, run_id),
        prior={m: v for (label, m), v in prior_evaluation(con, run_id, split).items() if label == ALL_LABELS},
    )


def targets(con, run_id: str) -> list[tuple]:
    """(metric, split, target, value, met) of eval.targets judged at the run's end, by metric (value
    None: the evaluation lacked the metric)."""
    return con.execute("SELECT metric, split, target, value, met FROM targets WHERE run_id = ? ORDER BY metric",
                       [run_id]).fetchall()


def record_notes(con, run_id: str) -> list[str]:
    """Ingestion's notes on a run's record, oldest first: an event file that was read again from its
    start (truncated, replaced), or events.jsonl gone (workbench/store/ingest.py)."""
    return [m for (m,) in con.execute("SELECT message FROM logs WHERE run_id = ? AND seq IS NULL ORDER BY t",
                                      [run_id]).fetchall()]


def base_vs_tuned(con, run_id: str, split: str = "validation") -> list[tuple]:
    """(label, metric, base, tuned, delta) rows; label '(all)' holds the aggregates."""
    return con.execute("SELECT label, metric, base, tuned, delta FROM base_vs_tuned WHERE run_id = ? AND split = ? "
                       "ORDER BY label, metric", [run_id, split]).fetchall()


def prior_evaluation(con, run_id: str, split: str = "validation") -> dict[tuple[str, str], float]:
    """{(label, metric): value} of a run's label prior (phase 'prior': the constant predictor from the
    training labels) on a split; label '(all)' holds the aggregates; {} where the run has none (NER)."""
    return {(label, m): v for label, m, v in con.execute(
        "SELECT label, metric, value FROM evals WHERE run_id = ? AND phase = 'prior' AND split = ? ORDER BY seq",
        [run_id, split]).fetchall()}


def run_status(con, run_id: str) -> str | None:
    return run_status_error(con, run_id)[0]


def runs_with_status(con, status: str) -> list[tuple[str, str | None]]:
    """(run id, run folder) of every run with this status."""
    return con.execute("SELECT run_id, run_dir FROM runs WHERE status = ? ORDER BY created_at", [status]).fetchall()


def run_annotations(con, run_id: str) -> tuple[dict[str, str], list[tuple[float, str]]]:
    """({tag: value}, [(unix time, note)]) of a run."""
    tags = dict(con.execute("SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", [run_id]).fetchall())
    notes = con.execute("SELECT t, text FROM notes WHERE run_id = ? ORDER BY t", [run_id]).fetchall()
    return tags, notes


def run_kind(con, run_id: str) -> str:
    """train, or eval for a `workbench eval` run."""
    row = con.execute("SELECT coalesce(kind, 'train') FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else "train"


def evaluation(con, run_id: str, split: str = "validation") -> list[tuple]:
    """(label, metric, value) of a run's tuned (or evaluated) model on a split; label '(all)': aggregates."""
    return con.execute("SELECT label, metric, value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = ? "
                       "ORDER BY label, metric", [run_id, split]).fetchall()


def run_warnings(con, run_id: str) -> list[str]:
    """The guardrails' warnings of a run (workbench/metrics/guardrails.py), [] when none fired."""
    row = con.execute("SELECT warnings FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return list(row[0] or []) if row else []


def run_status_error(con, run_id: str) -> tuple[str | None, str | None]:
    """(status, error) of a run; (None, None) when the store does not hold it."""
    row = con.execute("SELECT status, error FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return (row[0], row[1]) if row else (None, None)


def run_dir_recorded(con, run_id: str) -> str | None:
    """The run folder the store recorded for a run (it may since have moved)."""
    row = con.execute("SELECT run_dir FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else None


def latest_run_id(con) -> str | None:
    """The most recently created run."""
    row = con.execute("SELECT run_id FROM runs ORDER BY created_at DESC NULLS LAST LIMIT 1").fetchone()
    return row[0] if row else None


def run_ids_matching(con, ref: str) -> list[str]:
    """Run ids `ref` names (rundir.ids_matching: equal, prefix, else a suffix such as the app's short
    ids), in order. SQL narrows to the ids containing it; the rule is the one the trash uses too."""
    ids = [r[0] for r in con.execute("SELECT run_id FROM runs WHERE contains(run_id, ?)", [ref]).fetchall()]
    return rundir.ids_matching(ids, ref)


def runs_in_progress(con) -> list[tuple[str, str, str | None]]:
    """(run id, status, run folder) of every run recorded queued or running, oldest first."""
    return con.execute("SELECT run_id, status, run_dir FROM runs WHERE status IN ('queued', 'running') "
                       "ORDER BY created_at").fetchall()


def unfinished_runs(con) -> list[tuple[str, str]]:
    """(run id, run folder) of every queued or running run, oldest first."""
    return con.execute("SELECT run_id, run_dir FROM runs WHERE status IN ('queued', 'running') "
                       "ORDER BY created_at").fetchall()


@dataclass
class Comparison:
    ids: list[str]
    status: dict[str, str]
    params: dict[str, dict[str, str]]          # {param: {run_id: value}}, every param
    differing: list[str]                        # params whose value differs (name left out)
    aggregates: dict[str, dict[str, float]]     # {metric: {run_id: value}}, tuned
    per_label: dict[str, dict[str, float]]      # {label: {run_id: value}} for one metric, tuned
    groups: dict[str, list[str]]                # {group_id: [run_id, ...]} for groups of 2+ compared runs
    resources: dict[str, dict[str, float]] = field(default_factory=dict)  # {RESOURCES name: {run_id: value}}
    methods: dict[str, str] = field(default_factory=dict)  # {run_id: method} (runs.method: lora, full)
    targets_met: dict[str, bool] = field(default_factory=dict)  # {run_id: every eval.targets met}, runs with targets
    prior: dict[str, dict[str, float]] = field(default_factory=dict)  # {metric: {run_id: value}}, the label prior

    def best(self, metric: str, values: dict[str, float]) -> float | None:
        """The best value of a row (lowest for loss-like metrics), for highlighting."""
        vals = [v for v in values.values() if v is not None]
        if not vals:
            return None
        return min(vals) if metric in LOWER_IS_BETTER else max(vals)


def compare(con, ids: list[str], split: str = "validation", metric: str = "f1") -> Comparison:
    marks = ", ".join("?" * len(ids))
    pv: dict[str, dict[str, str]] = {}
    for rid, k, v in con.execute(f"SELECT run_id, key, value FROM params WHERE run_id IN ({marks})", ids).fetchall():
        pv.setdefault(k, {})[rid] = v
    differing = sorted(k for k, v in pv.items() if len({v.get(r) for r in ids}) > 1 and k != "name")
    agg: dict[str, dict[str, float]] = {}
    prior: dict[str, dict[str, float]] = {}
    for rid, phase, m, v in con.execute(
            f"SELECT run_id, phase, metric, value FROM evals WHERE run_id IN ({marks}) AND phase IN ('tuned', 'prior') "
            f"AND split = ? AND label = ?", [*ids, split, ALL_LABELS]).fetchall():
        (agg if phase == "tuned" else prior).setdefault(m, {})[rid] = v
    per: dict[str, dict[str, float]] = {}
    for rid, label, v in con.execute(
            f"SELECT run_id, label, value FROM evals WHERE run_id IN ({marks}) AND phase = 'tuned' AND split = ? "
            f"AND label <> ? AND metric = ? ORDER BY label", [*ids, split, ALL_LABELS, metric]).fetchall():
        per.setdefault(label, {})[rid] = v
    status: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    methods: dict[str, str] = {}
    targets_met: dict[str, bool] = {}
    for rid, st, group, method, met in con.execute(
            f"SELECT run_id, status, group_id, method, targets_met FROM runs WHERE run_id IN ({marks})", ids).fetchall():
        status[rid] = st
        if met is not None:
            targets_met[rid] = met
        if method:
            methods[rid] = method
        if group:
            groups.setdefault(group, []).append(rid)
    groups = {g: sorted(r, key=ids.index) for g, r in groups.items() if len(r) > 1}
    resources: dict[str, dict[str, float]] = {}
    cols = ", ".join(RESOURCES)
    for rid, *vals in con.execute(f"SELECT run_id, {cols} FROM runs WHERE run_id IN ({marks})", ids).fetchall():
        for name, v in zip(RESOURCES, vals):
            if v is not None:
                resources.setdefault(name, {})[rid] = v
    return Comparison(ids, status, pv, differing, agg, per, groups, resources, methods, targets_met, prior)


# Params that name or group runs, or stand for several: never a sweep's knob.
NOT_KNOBS = ("name", "group", "seeds", "methods", "train.seed", "description", "sweep.mode", "sweep.trials",
             "sweep.max_trials", "sweep.seed")


@dataclass
class Trial:
    config: dict[str, str]      # {knob: value text} of the knobs that vary across the compared runs
    run_ids: list[str]          # its runs (one per seed)
    mean: float | None          # train.best_metric over its completed runs
    std: float | None
    n: int                      # runs with a value
    judged: int = 0             # runs judged against eval.targets
    met: int = 0                # of them, the runs that met every target

    def targets_text(self) -> str:
        """`met 2/3` (runs meeting every eval.targets of those judged), `—` when none was judged."""
        return f"met {self.met}/{self.judged}" if self.judged else "—"


@dataclass
class Ranking:
    """A sweep's trials ranked by train.best_metric (mean over seeds), and each knob's marginal effect:
    per value, the mean over the trials that had it."""
    metric: str
    knobs: list[str]
    trials: list[Trial]                                   # best first; trials without a value last
    marginal: dict[str, list[tuple[str, float, int]]]     # {knob: [(value, mean, trials)]}, best first


def rank_trials(c: Comparison, metric: str | None = None) -> Ranking | None:
    """None when the runs do not differ in any knob (seeds alone: actions/comparable.py's mean ± std)."""
    knobs = [k for k in c.differing if k not in NOT_KNOBS]
    if not knobs:
        return None
    if metric is None:
        held = [v for v in c.params.get("train.best_metric", {}).values() if v]
        metric = max(set(held), key=held.count) if held else "loss"
    lower = metric in LOWER_IS_BETTER
    values = c.aggregates.get(metric, {})
    trials: dict[tuple, Trial] = {}
    for rid in c.ids:
        # a knob the run's method does not read (lora.r of a full fine-tune) had no value in it
        config = {k: c.params[k].get(rid, "—") if _reads(k, c.methods.get(rid)) else "—" for k in knobs}
        t = trials.setdefault(tuple(config.values()), Trial(config, [], None, None, 0))
        t.run_ids.append(rid)
    for t in trials.values():
        judged = [c.targets_met[r] for r in t.run_ids if r in c.targets_met]
        t.judged, t.met = len(judged), sum(judged)
        vals = [values[r] for r in t.run_ids if values.get(r) is not None and c.status.get(r) == "completed"]
        if vals:
            t.mean, t.n = statistics.fmean(vals), len(vals)
            t.std = statistics.stdev(vals) if len(vals) > 1 else 0.0

    def order(t: Trial):
        return (t.mean is None, (t.mean if lower else -t.mean) if t.mean is not None else 0.0)

    ranked = sorted(trials.values(), key=order)
    marginal: dict[str, list[tuple[str, float, int]]] = {}
    for k in knobs:
        by_value: dict[str, list[float]] = {}
        for t in ranked:
            if t.mean is not None and t.config[k] != "—":
                by_value.setdefault(t.config[k], []).append(t.mean)
        rows = [(v, statistics.fmean(ms), len(ms)) for v, ms in by_value.items()]
        marginal[k] = sorted(rows, key=lambda r: r[1] if lower else -r[1])
    return Ranking(metric, knobs, ranked, marginal)


def _reads(knob: str, method: str | None) -> bool:
    """Whether runs of `method` read `knob` (a param that is no knob, or no method known: yes)."""
    from workbench.recipe.schema import BY_NAME

    declared = BY_NAME.get(knob)
    return declared is None or method is None or declared.used_by(method)


# What a run cost, side by side in `compare` (full fine-tune vs LoRA): `runs` columns.
RESOURCES = ("trainable_params", "total_params", "duration_s", "train_runtime_s", "train_samples_per_s",
             "peak_mem_bytes", "saved_bytes")


@dataclass(frozen=True)
class FairnessRow:
    """One group of one group column for one positive class, base and tuned side by side (a `fairness`
    table row of the tuned model joined with the base model's). Runs before schema 10 have no
    group_column / positive_class and only the FPR columns."""
    group_column: str | None
    group: str
    positive_class: str | None
    negatives: int | None
    positives: int | None
    fpr: tuple[float | None, float | None]          # base, tuned
    max_fpr: float | None
    fnr: tuple[float | None, float | None]
    max_fnr: float | None
    flagged: bool                                   # the tuned model is over a limit
    aucs: dict[str, tuple[float | None, float | None]]  # {subgroup_auc | bpsn_auc | bnsp_auc: (base, tuned)}
    reasons: dict[str, str]                         # {auc: why the tuned one is NULL}


def fairness(con, run_id: str, split: str = "validation") -> list[FairnessRow]:
    """The run's fairness rows on `split`: per positive class, group column and group, tuned beside base."""
    rows = con.execute(
        """SELECT t.group_column, t.grp, t.positive_class, t.negatives, t.positives, b.fpr, t.fpr, t.max_fpr,
                  b.fnr, t.fnr, t.max_fnr, coalesce(t.flagged, false),
                  b.subgroup_auc, t.subgroup_auc, b.bpsn_auc, t.bpsn_auc, b.bnsp_auc, t.bnsp_auc, t.reason
           FROM fairness t LEFT JOIN fairness b ON b.run_id = t.run_id AND b.split = t.split AND b.grp = t.grp
                AND b.group_column IS NOT DISTINCT FROM t.group_column
                AND b.positive_class IS NOT DISTINCT FROM t.positive_class AND b.phase = 'base'
           WHERE t.run_id = ? AND t.split = ? AND t.phase = 'tuned'
           ORDER BY t.positive_class NULLS FIRST, t.group_column NULLS FIRST, t.grp""", [run_id, split]).fetchall()
    out = []
    for (column, grp, positive, neg, pos, fpr_b, fpr_t, max_fpr, fnr_b, fnr_t, max_fnr, flagged,
         sb, st, pb, pt, nb, nt, reason) in rows:
        reasons = dict(part.split(": ", 1) for part in (reason or "").split("; ") if ": " in part)
        out.append(FairnessRow(column, grp, positive, neg, pos, (fpr_b, fpr_t), max_fpr, (fnr_b, fnr_t), max_fnr,
                               bool(flagged), {"subgroup_auc": (sb, st), "bpsn_auc": (pb, pt), "bnsp_auc": (nb, nt)},
                               reasons))
    return out


def bias_scores(con, run_id: str, split: str = "validation") -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """Per positive class, its bias summary (the evals rows overall_auc, bias_*: the AUCs' generalized
    means over the groups and the final score), (base, tuned)."""
    out: dict[str, dict[str, tuple[float | None, float | None]]] = {}
    for label, metric, base, tuned in con.execute(
            """SELECT label, metric, arg_max(value, seq) FILTER (WHERE phase = 'base'),
                      arg_max(value, seq) FILTER (WHERE phase = 'tuned')
               FROM evals WHERE run_id = ? AND split = ? AND (metric = 'overall_auc' OR starts_with(metric, 'bias_'))
               GROUP BY label, metric ORDER BY label, metric""", [run_id, split]).fetchall():
        out.setdefault(label, {})[metric] = (base, tuned)
    return out


def confusion(con, run_id: str, split: str = "validation", phase: str = "tuned") -> dict[str, dict[str, int]]:
    """{gold: {predicted: n}} of the last evaluation of `phase` on `split` ({} for multi-label runs):
    a row per class of that evaluation in its class order (empty where no example had that gold
    class), the cells stored (not zero; a missing cell is 0)."""
    found = con.execute("SELECT max(seq) FROM confusion WHERE run_id = ? AND split = ? AND phase = ?",
                        [run_id, split, phase]).fetchone()[0]
    if found is None:
        return {}
    out: dict[str, dict[str, int]] = {label: {} for (label,) in con.execute(
        "SELECT label FROM evals WHERE run_id = ? AND seq = ? AND label <> ? GROUP BY label ORDER BY min(rowid)",
        [run_id, found, ALL_LABELS]).fetchall()}
    for gold, predicted, n in con.execute(
            "SELECT gold, predicted, n FROM confusion WHERE run_id = ? AND seq = ? ORDER BY rowid",
            [run_id, found]).fetchall():
        out.setdefault(gold, {})[predicted] = n
    return out


def group_members(con, group: str) -> list[str]:
    return [r for (r,) in con.execute("SELECT run_id FROM runs WHERE group_id = ? ORDER BY created_at, run_id",
                                      [group]).fetchall()]


# --- series for live plots -----------------------------------------------------------------

def step_series(con, run_id: str) -> list[tuple]:
    """(step, epoch, loss, lr, samples_per_s) in order."""
    return con.execute("SELECT step, epoch, loss, lr, samples_per_s FROM steps WHERE run_id = ? ORDER BY seq",
                       [run_id]).fetchall()


def eval_series(con, run_id: str, split: str = "validation") -> list[tuple]:
    """(phase, step, epoch, metric, value) of every aggregate evaluation, in order."""
    return con.execute("SELECT phase, step, epoch, metric, value FROM evals WHERE run_id = ? AND split = ? "
                       "AND label = ? ORDER BY seq", [run_id, split, ALL_LABELS]).fetchall()


# --- curves of several runs (`workbench curves`, the Compare screen's Curves tab) ---------------

STEP_METRICS = ("loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s")  # the steps table's curves


def step_curves(con, run_ids: list[str], metric: str) -> dict[str, list[tuple[int, float]]]:
    """{run id: [(step, value)] in order} of a column of the steps table (STEP_METRICS); rows without
    a value left out."""
    if metric not in STEP_METRICS:
        raise ValueError(f"no steps column {metric!r}")
    marks = ", ".join("?" * len(run_ids))
    rows = con.execute(f"SELECT run_id, step, {metric} FROM steps WHERE run_id IN ({marks}) AND {metric} IS NOT NULL "
                       "ORDER BY seq", run_ids).fetchall()
    return _by_run(run_ids, rows)


def epoch_eval_curves(con, run_ids: list[str], metric: str, split: str = "validation") -> dict[str, list[tuple[int, float]]]:
    """{run id: [(step, value)] in order} of an aggregate metric of the epoch evaluations on `split`."""
    marks = ", ".join("?" * len(run_ids))
    rows = con.execute(f"SELECT run_id, step, value FROM evals WHERE run_id IN ({marks}) AND phase = 'epoch' "
                       "AND split = ? AND label = ? AND metric = ? AND value IS NOT NULL ORDER BY seq",
                       [*run_ids, split, ALL_LABELS, metric]).fetchall()
    return _by_run(run_ids, rows)


def _by_run(run_ids: list[str], rows: list[tuple]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {rid: [] for rid in run_ids}
    for rid, step, value in rows:
        out[rid].append((step, value))
    return out


def curve_metrics(con, run_ids: list[str], split: str = "validation") -> tuple[list[str], list[str]]:
    """(the STEP_METRICS some of the runs have a value of, the aggregate metrics of their epoch
    evaluations on `split` in the order first recorded)."""
    marks = ", ".join("?" * len(run_ids))
    counts = con.execute(f"SELECT {', '.join(f'count({m})' for m in STEP_METRICS)} FROM steps WHERE run_id IN ({marks})",
                         run_ids).fetchone()
    evals = con.execute(f"SELECT metric FROM evals WHERE run_id IN ({marks}) AND phase = 'epoch' AND split = ? "
                        "AND label = ? AND value IS NOT NULL GROUP BY metric ORDER BY min(seq), min(rowid)",
                        [*run_ids, split, ALL_LABELS]).fetchall()
    return [m for m, n in zip(STEP_METRICS, counts) if n], [m for (m,) in evals]


def telemetry_series(con, run_id: str, limit: int = 600) -> list[dict[str, Any]]:
    """The last `limit` telemetry samples, oldest first, as event-shaped dicts."""
    cols = ("t", "host", "rank", "gpu", "util", "mem_used", "mem_total", "power_w", "temp_c", "cpu_pct", "rss_bytes")
    rows = con.execute(f"SELECT {', '.join(cols)} FROM telemetry WHERE run_id = ? ORDER BY t DESC LIMIT ?",
                       [run_id, limit]).fetchall()
    return [dict(zip(cols, r)) for r in reversed(rows)]


def log_tail(con, run_id: str, limit: int = 200) -> list[tuple[str, str]]:
    """(level, message) of the last `limit` log events, oldest first."""
    rows = con.execute("SELECT level, message FROM logs WHERE run_id = ? ORDER BY seq DESC NULLS FIRST LIMIT ?",
                       [run_id, limit]).fetchall()
    return list(reversed(rows))


def runs_fingerprint(con) -> tuple:
    """A cheap value (milliseconds over 10,000 runs) that changes whenever `list_runs` would:
    runs added or removed, their status, ingested events or evaluations moved. Live views
    re-read the list only when it changed."""
    # count: the runs a list shows (archived ones left out); the hash moves when one is (un)archived or
    # its guardrails' warnings arrive
    runs = con.execute("SELECT count(*) FILTER (WHERE NOT coalesce(archived, false)), sum(hash(run_id, status, "
                       "last_seq, events_offset, duration_s, ended_at, group_id, started_at, archived, warnings)) "
                       "FROM runs").fetchone()
    return (*runs, *con.execute("SELECT count(*) FROM evals").fetchone())


def list_runs_changed(con, unfinished: list[str], created_from) -> list[dict[str, Any]]:
    """The rows a live list must re-read: runs still queued / running now or at the last read
    (`unfinished`), and runs created at or after `created_from` (new ones). A few rows instead
    of the whole table, so a store of 10,000 runs refreshes in milliseconds while one trains."""
    marks = ", ".join("?" * len(unfinished)) or "NULL"
    sql = (f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM run_summary WHERE NOT archived AND (status IN ('queued', "
           f"'running') OR run_id IN ({marks}) OR created_at >= ? OR created_at IS NULL)")
    return [dict(zip(RUN_LIST_COLUMNS, row)) for row in con.execute(sql, [*unfinished, created_from]).fetchall()]
