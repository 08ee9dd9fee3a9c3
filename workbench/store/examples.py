"""Saved example queries over `runs.duckdb`, as plain data (name, why, SQL): the TUI's Query mode
lists them, and `workbench query` can offer them too. Each one only reads, and runs on any store
made by this version of the schema (tests run every one on the sample store).

Names in the SQL are the public contract of `workbench.store.schema`: tables runs, params, steps,
evals, telemetry, artifacts, logs; views run_summary, label_metrics, base_vs_tuned.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExampleQuery:
    name: str  # short, unique: what a list shows
    why: str  # one line: what the answer tells you
    sql: str


EXAMPLES: tuple[ExampleQuery, ...] = (
    # SQL lines are kept short: the TUI's SQL box is about 40 columns wide on an 80-column terminal.
    ExampleQuery(
        "best run per recipe by macro F1",
        "The run of each recipe with the highest tuned macro F1 (validation).",
        """\
SELECT recipe_name,
  arg_max(run_id, tuned_f1_macro)
    AS best_run,
  max(tuned_f1_macro) AS f1_macro,
  count(*) AS runs
FROM run_summary
WHERE tuned_f1_macro IS NOT NULL
GROUP BY recipe_name
ORDER BY f1_macro DESC, recipe_name""",
    ),
    ExampleQuery(
        "labels where tuning hurt",
        "Labels and metrics worse after tuning than before (lower loss is better).",
        """\
SELECT run_id, split, label, metric,
  base, tuned, delta
FROM base_vs_tuned
WHERE improved = false
ORDER BY delta, run_id, label, metric""",
    ),
    ExampleQuery(
        "failed runs and their errors",
        "Every failed run, where it ran, when it ended, and its error.",
        """\
SELECT run_id, target, host,
  ended_at, error
FROM runs
WHERE status = 'failed'
ORDER BY created_at DESC, run_id""",
    ),
    ExampleQuery(
        "GPU memory peak per run",
        "The most GPU memory a device of each run used (GiB), and mean utilisation.",
        """\
SELECT run_id,
  count(DISTINCT (host, gpu)) AS gpus,
  round(max(mem_used) / 2^30, 2)
    AS peak_gib,
  round(max(mem_total) / 2^30, 1)
    AS total_gib,
  round(avg(util), 1) AS util_pct
FROM telemetry
WHERE gpu IS NOT NULL
GROUP BY run_id
ORDER BY peak_gib DESC, run_id""",
    ),
    ExampleQuery(
        "f1_micro mean ± std per group",
        "Seed / sweep groups: mean ± std of the tuned micro F1 over each group's runs.",
        """\
SELECT group_id,
  count(*) AS runs,
  avg(tuned_f1_micro) AS mean,
  stddev_samp(tuned_f1_micro) AS std,
  min(tuned_f1_micro) AS min,
  max(tuned_f1_micro) AS max
FROM run_summary
WHERE group_id <> ''
  AND tuned_f1_micro IS NOT NULL
GROUP BY group_id
ORDER BY mean DESC, group_id""",
    ),
    ExampleQuery(
        "slowest runs",
        "Runs that took longest from start to end, with how and where they ran.",
        """\
SELECT run_id, status, method, target,
  duration_s AS seconds,
  round(duration_s / 3600, 2) AS hours,
  started_at
FROM runs
WHERE duration_s IS NOT NULL
ORDER BY duration_s DESC, run_id
LIMIT 20""",
    ),
    ExampleQuery(
        "LR and LoRA rank vs tuned F1",
        "Hyperparameters (from params) next to each run's tuned micro F1, best first.",
        """\
SELECT s.run_id, s.method,
  max(p.value) FILTER (
    WHERE p.key = 'train.learning_rate')
    AS lr,
  max(p.value) FILTER (
    WHERE p.key = 'lora.r') AS lora_r,
  s.tuned_f1_micro
FROM run_summary s
LEFT JOIN params p USING (run_id)
GROUP BY ALL
ORDER BY s.tuned_f1_micro DESC
  NULLS LAST, s.run_id""",
    ),
    ExampleQuery(
        "runs, newest first",
        "The run list with its headline numbers (the run_summary view).",
        """\
SELECT run_id, status, method,
  target, tuned_f1_micro,
  base_f1_micro, last_step, created_at
FROM run_summary
ORDER BY created_at DESC, run_id
LIMIT 100""",
    ),
    ExampleQuery(
        "tables and columns of the store",
        "What can be queried: each table and view, its columns and their types.",
        """\
SELECT table_name, column_name,
  data_type
FROM duckdb_columns()
WHERE database_name = current_database()
  AND schema_name = 'main'
ORDER BY table_name, column_index""",
    ),
)

def example(name: str) -> ExampleQuery:
    """The example called `name` (KeyError if none)."""
    for e in EXAMPLES:
        if e.name == name:
            return e
    raise KeyError(name)
