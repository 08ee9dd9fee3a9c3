"""Reading the store for `workbench export`: a finished run's evaluations and facts, as plain data."""

from __future__ import annotations

from typing import Any

# How the trainer's log line on the data starts (train/pipeline.py: "data: " + Splits.describe()).
DATA_LOG = "data: "
# The columns of `runs` a model card shows.
FACT_COLUMNS = ("run_id", "recipe_name", "description", "task", "model", "method", "status", "created_at",
                "ended_at", "duration_s", "trainable_params", "total_params", "versions")


def evaluations(con, run_id: str) -> list[tuple[str, str, str, str, float | None]]:
    """(phase, split, label, metric, value) of every model a run scored (base, tuned and any other phase
    but the epoch evaluations of training), in the order they were recorded (a later row of the same
    phase, split, label and metric supersedes an earlier one); label '(all)' holds the aggregates."""
    return con.execute(
        "SELECT phase, split, label, metric, value FROM evals WHERE run_id = ? AND phase <> 'epoch' "
        "ORDER BY seq, label, metric", [run_id]).fetchall()


def run_facts(con, run_id: str) -> dict[str, Any]:
    """The row of `runs` a model card reads ({} when the store does not hold the run), and `data_read`: the
    run's log line saying the rows it read per split (Splits.describe: "80 train, 20 validation rows,
    4 labels"; the last, for a resumed run), None where the log has none."""
    row = con.execute(f"SELECT {', '.join(FACT_COLUMNS)} FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if not row:
        return {}
    data = con.execute(f"SELECT message FROM logs WHERE run_id = ? AND message LIKE '{DATA_LOG}%' "
                       "ORDER BY seq DESC NULLS LAST LIMIT 1", [run_id]).fetchone()
    return {**dict(zip(FACT_COLUMNS, row)), "data_read": data[0].removeprefix(DATA_LOG) if data else None}
