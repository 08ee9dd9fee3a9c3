"""DDL of `runs.duckdb`. Names here are a public contract: users query them with SQL.

Times in `runs` are TIMESTAMP (UTC); `t` columns elsewhere are unix seconds (DOUBLE).
Aggregate metrics live in `evals` under the label '(all)'.
"""

# Metrics where lower is better (everything else: higher is better; support: neither): written once, in
# workbench/recipe/metric_names.py (the recipe's eval.targets and the trainer's judge read them too).
from workbench import rundir
from workbench.recipe.metric_names import LOWER_IS_BETTER, NEUTRAL_METRICS

SCHEMA_VERSION = 10  # 2: event_files (per-rank event files); 3: training summary columns, fairness; 4: attempts;
#                    5: confusion; 6: warnings; 7: kind, evaluates, archived, tags, notes; 8: mlflow_run_id, mlflow_uri;
#                    9: events_head, events_tail (runs, event_files); 10: fairness per group column and positive
#                    class (FNR, bias AUCs), views rebuilt (LOWER_IS_BETTER gained invented*, fnr)
ALL_LABELS = rundir.ALL_LABELS  # the label of an evaluation's aggregates in `evals`

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS runs (
    run_id            VARCHAR PRIMARY KEY,
    recipe_name       VARCHAR,
    recipe_path       VARCHAR,
    description       VARCHAR,
    task              VARCHAR,
    model             VARCHAR,
    method            VARCHAR,
    target            VARCHAR,      -- local | ssh:HOST | slurm:HOST | pbs:HOST
    status            VARCHAR,      -- queued | running | completed | failed | interrupted | cancelled | pruned
    created_at        TIMESTAMP,
    started_at        TIMESTAMP,
    ended_at          TIMESTAMP,
    duration_s        DOUBLE,
    group_id          VARCHAR,
    host              VARCHAR,
    pid               INTEGER,
    job_id            VARCHAR,
    world_size        INTEGER,
    trainable_params  BIGINT,
    total_params      BIGINT,
    error             VARCHAR,
    run_dir           VARCHAR,
    versions          VARCHAR,      -- JSON: python, torch, transformers, peft, workbench
    last_seq          BIGINT DEFAULT -1,   -- ingestion state: last event seq stored
    events_offset     BIGINT DEFAULT 0,    -- ingestion state: bytes of events.jsonl consumed
    events_lines      BIGINT DEFAULT 0     -- ingestion state: lines of events.jsonl consumed
);

CREATE TABLE IF NOT EXISTS params (
    run_id  VARCHAR,
    key     VARCHAR,        -- section.key, as in recipes and --set
    value   VARCHAR,        -- TOML-ish text of the value
    PRIMARY KEY (run_id, key)
);

CREATE TABLE IF NOT EXISTS steps (
    run_id          VARCHAR,
    seq             BIGINT,
    t               DOUBLE,
    step            BIGINT,
    epoch           DOUBLE,
    loss            DOUBLE,
    lr              DOUBLE,
    grad_norm       DOUBLE,
    samples_per_s   DOUBLE,
    tokens_per_s    DOUBLE
);

CREATE TABLE IF NOT EXISTS evals (
    run_id  VARCHAR,
    seq     BIGINT,
    t       DOUBLE,
    phase   VARCHAR,        -- base | epoch | tuned | prior (the label-prior baseline: a constant
                            --   prediction from the training labels' frequencies; no model)
    split   VARCHAR,        -- validation | test
    step    BIGINT,
    epoch   DOUBLE,
    label   VARCHAR,        -- a label name, or '(all)' for aggregates
    metric  VARCHAR,        -- precision, recall, f1, accuracy, support | f1_micro, f1_macro, ..., loss
    value   DOUBLE
);

CREATE TABLE IF NOT EXISTS telemetry (
    run_id      VARCHAR,
    seq         BIGINT,
    t           DOUBLE,
    host        VARCHAR,
    rank        INTEGER,
    gpu         INTEGER,    -- NULL for host samples
    util        DOUBLE,     -- GPU utilisation %
    mem_used    BIGINT,     -- bytes
    mem_total   BIGINT,     -- bytes
    power_w     DOUBLE,
    temp_c      DOUBLE,
    cpu_pct     DOUBLE,     -- host samples
    rss_bytes   BIGINT      -- host samples
);

CREATE TABLE IF NOT EXISTS artifacts (
    run_id  VARCHAR,
    seq     BIGINT,
    kind    VARCHAR,        -- adapter | model | predictions | checkpoint | labels
    path    VARCHAR,
    meta    VARCHAR         -- JSON of any extra fields
);

-- Ingestion state of the per-rank files events.rank<N>.jsonl (telemetry and errors of ranks > 0).
CREATE TABLE IF NOT EXISTS event_files (
    run_id          VARCHAR,
    file            VARCHAR,
    events_offset   BIGINT,
    events_lines    BIGINT,
    last_seq        BIGINT,
    PRIMARY KEY (run_id, file)
);

CREATE TABLE IF NOT EXISTS logs (
    run_id  VARCHAR,
    seq     BIGINT,     -- NULL: ingestion's own note (level warning) that an event file was read again or is gone
    t       DOUBLE,
    level   VARCHAR,
    message VARCHAR
);

-- Confusion matrices of single-label classification (class column, chat classification), base, tuned
-- and the label prior (its majority class / most common answer in one column):
-- one row per (gold, predicted) cell that is not zero (a cell without a row is 0; stores of runs
-- ingested before 2026-12 may also hold zero cells); predicted '(none)': an answer naming no class.
CREATE TABLE IF NOT EXISTS confusion (
    run_id      VARCHAR,
    seq         BIGINT,
    phase       VARCHAR,    -- base | tuned | prior
    split       VARCHAR,
    gold        VARCHAR,    -- the true class
    predicted   VARCHAR,    -- the predicted class, or '(none)'
    n           BIGINT      -- examples
);

-- Fairness per group column, group and positive class (fairness.positive_classes with
-- data.group_columns; workbench/metrics/bias.py), base and tuned: error rates at the threshold the
-- split is judged at and the bias AUCs of Borkan et al. 2019. Rows of runs before schema 10 (chat
-- classification, FPR only) have NULL in the columns added since.
CREATE TABLE IF NOT EXISTS fairness (
    run_id          VARCHAR,
    seq             BIGINT,
    phase           VARCHAR,    -- base | tuned
    split           VARCHAR,
    grp             VARCHAR,    -- the group
    examples        BIGINT,
    negatives       BIGINT,     -- the group's examples whose gold is not the positive class
    false_positives BIGINT,
    fpr             DOUBLE,     -- false_positives / negatives (NULL without negatives)
    max_fpr         DOUBLE,     -- the group's limit (fairness.group_limits, else fairness.max_fpr)
    flagged         BOOLEAN     -- fpr > max_fpr or fnr > max_fnr
);
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS group_column VARCHAR;     -- the data.group_columns column
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS positive_class VARCHAR;   -- the class / label; '(any)': one of several
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS positives BIGINT;         -- the group's examples of the positive class
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS false_negatives BIGINT;
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS fnr DOUBLE;               -- false_negatives / positives (NULL without)
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS max_fnr DOUBLE;           -- fairness.max_fnr
-- ROC AUC on the group's examples; background positives + group negatives; group positives +
-- background negatives. NULL with fewer than 10 positives or 10 negatives: `reason` says which.
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS subgroup_auc DOUBLE;
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS bpsn_auc DOUBLE;
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS bnsp_auc DOUBLE;
ALTER TABLE fairness ADD COLUMN IF NOT EXISTS reason VARCHAR;           -- why an AUC is NULL ('metric: why; ...')

-- Columns added after the first release (stores created earlier get them on open).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS train_runtime_s DOUBLE;       -- trainer.train() wall time
ALTER TABLE runs ADD COLUMN IF NOT EXISTS train_samples_per_s DOUBLE;   -- training steps only (no eval, no checkpoint saves)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS peak_mem_bytes BIGINT;        -- CUDA max allocated, or peak RSS on CPU
ALTER TABLE runs ADD COLUMN IF NOT EXISTS peak_mem_kind VARCHAR;        -- cuda_max_allocated | peak_rss
ALTER TABLE runs ADD COLUMN IF NOT EXISTS saved_bytes BIGINT;           -- adapter or full model on disk
ALTER TABLE runs ADD COLUMN IF NOT EXISTS optimizer VARCHAR;            -- the optimizer that ran
ALTER TABLE runs ADD COLUMN IF NOT EXISTS quantized VARCHAR;            -- e.g. 4bit-nf4; NULL: not quantized
ALTER TABLE runs ADD COLUMN IF NOT EXISTS attempts INTEGER;             -- starts of the trainer: 1, +1 per `workbench resume`
ALTER TABLE runs ADD COLUMN IF NOT EXISTS warnings VARCHAR[];           -- guardrails after the tuned evaluation, one line each
ALTER TABLE runs ADD COLUMN IF NOT EXISTS kind VARCHAR;                 -- train | eval (`workbench eval`: scored, not trained)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS evaluates VARCHAR;            -- eval runs: the model scored (run:ID, folder, hub id)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS archived BOOLEAN;             -- hidden from lists unless asked (`workbench archive`)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS mlflow_run_id VARCHAR;        -- the MLflow run it logs to
ALTER TABLE runs ADD COLUMN IF NOT EXISTS mlflow_uri VARCHAR;           -- its tracking URI
-- Ingestion state: fingerprints of an event file's first bytes and of those before the offset read
-- (workbench/events.py FileMark): a file truncated, rewritten or replaced since is read again.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS events_head VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS events_tail VARCHAR;
ALTER TABLE event_files ADD COLUMN IF NOT EXISTS events_head VARCHAR;
ALTER TABLE event_files ADD COLUMN IF NOT EXISTS events_tail VARCHAR;

-- eval.targets judged at the end of a run (tuned model; test split when there is one, else validation):
-- one row per target; value NULL: the evaluation lacks the metric (not met).
CREATE TABLE IF NOT EXISTS targets (
    run_id  VARCHAR,
    seq     BIGINT,
    metric  VARCHAR,
    split   VARCHAR,
    target  DOUBLE,
    value   DOUBLE,
    met     BOOLEAN     -- lower-is-better metrics: value <= target; the others: value >= target
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS targets_met BOOLEAN;          -- every eval.targets met; NULL: none set

-- A run's tags (`workbench tag RUN key=value`) and notes (`workbench note RUN "text"`); the run
-- folder's annotations.json holds them too, so `workbench sync` rebuilds them.
CREATE TABLE IF NOT EXISTS tags (
    run_id  VARCHAR,
    key     VARCHAR,
    value   VARCHAR,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE IF NOT EXISTS notes (
    run_id  VARCHAR,
    t       DOUBLE,     -- unix seconds
    text    VARCHAR
);
"""

VIEWS = f"""
CREATE OR REPLACE VIEW label_metrics AS
SELECT e.run_id, r.recipe_name, r.method, e.phase, e.split, e.step, e.epoch, e.label, e.metric, e.value
FROM evals e JOIN runs r USING (run_id)
WHERE e.label <> '{ALL_LABELS}';

CREATE OR REPLACE VIEW base_vs_tuned AS
SELECT b.run_id, r.recipe_name, b.split, b.label, b.metric,
       b.value AS base, t.value AS tuned, t.value - b.value AS delta,
       CASE WHEN b.metric IN {NEUTRAL_METRICS} THEN NULL
            WHEN b.metric IN {LOWER_IS_BETTER} THEN t.value < b.value
            ELSE t.value > b.value END AS improved,
       -- added with the label prior (phase 'prior'; NULL where the task has none, e.g. NER)
       p.value AS prior,
       CASE WHEN b.metric IN {NEUTRAL_METRICS} OR p.value IS NULL THEN NULL
            WHEN b.metric IN {LOWER_IS_BETTER} THEN t.value < p.value
            ELSE t.value > p.value END AS beats_prior
FROM evals b
JOIN evals t ON t.run_id = b.run_id AND t.split = b.split AND t.label = b.label
            AND t.metric = b.metric AND t.phase = 'tuned'
LEFT JOIN evals p ON p.run_id = b.run_id AND p.split = b.split AND p.label = b.label
                 AND p.metric = b.metric AND p.phase = 'prior'
JOIN runs r ON r.run_id = b.run_id
WHERE b.phase = 'base';

CREATE OR REPLACE VIEW fairness_flags AS
SELECT f.run_id, r.recipe_name, f.phase, f.split, f.grp, f.fpr, f.max_fpr, f.negatives, f.false_positives,
       -- added in schema 10
       f.group_column, f.positive_class, f.fnr, f.max_fnr, f.positives, f.false_negatives
FROM fairness f JOIN runs r USING (run_id)
WHERE f.flagged;

CREATE OR REPLACE VIEW run_summary AS
-- Aggregated per run first, then joined: grouping 10,000 runs by two dozen columns after the
-- join, or a correlated subquery per run into steps, costs several times more.
WITH e AS (
    SELECT run_id,
           max(value) FILTER (WHERE phase = 'tuned' AND metric = 'f1_micro') AS tuned_f1_micro,
           max(value) FILTER (WHERE phase = 'tuned' AND metric = 'f1_macro') AS tuned_f1_macro,
           max(value) FILTER (WHERE phase = 'base' AND metric = 'f1_micro') AS base_f1_micro,
           max(value) FILTER (WHERE phase = 'base' AND metric = 'f1_macro') AS base_f1_macro,
           max(value) FILTER (WHERE phase = 'tuned' AND metric = 'accuracy') AS tuned_accuracy
    FROM evals WHERE label = '{ALL_LABELS}' AND split = 'validation' GROUP BY run_id),
s AS (
    SELECT run_id, arg_max(loss, seq) FILTER (WHERE loss IS NOT NULL) AS last_loss, max(step) AS last_step
    FROM steps GROUP BY run_id)
SELECT r.run_id, r.recipe_name, r.task, r.model, r.method, r.target, r.status,
       r.created_at, r.started_at, r.ended_at,
       r.duration_s,
       r.group_id, r.host, r.trainable_params, r.total_params,
       e.tuned_f1_micro, e.tuned_f1_macro, e.base_f1_micro, e.base_f1_macro,
       s.last_loss, s.last_step,
       r.error, r.run_dir,
       -- added in schema 3 (kept last, so positional readers of the older columns still work)
       e.tuned_accuracy,
       r.train_runtime_s, r.train_samples_per_s, r.peak_mem_bytes, r.saved_bytes, r.quantized,
       -- added in schema 6, 7
       r.warnings, coalesce(r.kind, 'train') AS kind, r.evaluates, coalesce(r.archived, false) AS archived,
       -- eval.targets (issue 28)
       r.targets_met
FROM runs r
LEFT JOIN e ON e.run_id = r.run_id
LEFT JOIN s ON s.run_id = r.run_id;
"""
