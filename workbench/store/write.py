"""Every write to the store other than ingesting events: a run registered, its job recorded,
reopened for a resume, its earlier attempt superseded, its end or final status settled. The
ingester (store/ingest.py) writes what the event files say; no module outside workbench/store
writes SQL.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.recipe.schema import SECTIONS
from workbench.store.rows import insert_rows, param_text, utc


@contextmanager
def transaction(con) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back when anything inside raises: a connection used on (`sync` goes
    on to the next run folder) never stays inside a half-done transaction."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def register_run(con, run_dir: Path) -> dict[str, Any]:
    """Insert the run's row and params if missing (status 'queued' until its start event)."""
    meta = rundir.read_run_meta(run_dir, own_folder=True)
    if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [meta["run_id"]]).fetchone():
        return meta
    values = recipe_values(run_dir)
    with transaction(con):
        insert_run(con, run_dir, meta, values)
    return meta


def recipe_values(run_dir: Path) -> dict[str, Any]:
    """The frozen recipe's knobs, flat (`section.key`); {} when the folder has none yet. Read before a
    run's row is written: a corrupt one is the folder's fault (RunFolderError), named with its line."""
    path = run_dir / rundir.RECIPE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise rundir.RunFolderError(run_dir, rundir.RECIPE, f"cannot be read ({e.strerror or e})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise rundir.RunFolderError(run_dir, rundir.RECIPE, f"not valid TOML ({e})") from None
    values: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, dict) and k in SECTIONS:  # [section] tables; data.labels stays one map
            for kk, vv in v.items():
                values[f"{k}.{kk}"] = vv
        else:
            values[k] = v
    return values


def insert_run(con, run_dir: Path, meta: dict[str, Any], values: dict[str, Any]) -> None:
    """The run's row, params and annotations (`values`: `recipe_values` of its folder)."""
    run_id = meta["run_id"]
    kind = meta.get("kind", "train")
    annotations = rundir.read_annotations(run_dir)
    con.execute(
        """INSERT INTO runs (run_id, recipe_name, recipe_path, description, task, model, method, target, status,
                             created_at, group_id, host, pid, job_id, run_dir, kind, evaluates, archived)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [run_id, meta.get("recipe_name"), meta.get("recipe_path"), values.get("description"), values.get("task"),
         meta.get("evaluates") if kind == "eval" else values.get("model.source"),
         "eval" if kind == "eval" else values.get("model.method"), meta.get("target", "local"),
         utc(meta.get("created_at")), meta.get("group") or None, meta.get("host"), meta.get("pid"),
         meta.get("job_id"), str(run_dir.resolve()), kind, meta.get("evaluates"), annotations["archived"]],
    )
    if values:
        insert_rows(con, "params", [[run_id, k, param_text(v)] for k, v in values.items()])
    write_annotations(con, run_id, annotations)


def write_annotations(con, run_id: str, annotations: dict[str, Any]) -> None:
    """The store's copy of a run folder's annotations.json (tags, notes, archived, an exported MLflow
    run), replaced whole."""
    con.execute("DELETE FROM tags WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM notes WHERE run_id = ?", [run_id])
    if annotations["tags"]:
        insert_rows(con, "tags", [[run_id, str(k), str(v)] for k, v in annotations["tags"].items()])
    if annotations["notes"]:
        insert_rows(con, "notes", [[run_id, float(n.get("t") or 0), str(n.get("text", ""))]
                                   for n in annotations["notes"] if isinstance(n, dict)])
    con.execute("UPDATE runs SET archived = ? WHERE run_id = ?", [annotations["archived"], run_id])
    mlflow = annotations.get("mlflow")
    if mlflow:
        con.execute("UPDATE runs SET mlflow_run_id = ?, mlflow_uri = ? WHERE run_id = ?",
                    [mlflow.get("run"), mlflow.get("uri"), run_id])


def delete_run(con, run_id: str) -> None:
    """Every row of a run, in every table (`workbench rm`)."""
    for table in ("params", "steps", "evals", "telemetry", "artifacts", "event_files", "logs", "confusion",
                  "fairness", "targets", "tags", "notes"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])


def record_job(con, run_id: str, pid: int | None, job_id: str | None) -> None:
    """The process or scheduler job that runs it (a local pid, a SLURM / PBS job id)."""
    con.execute("UPDATE runs SET pid = ?, job_id = ? WHERE run_id = ?", [pid, job_id, run_id])


def reopen_for_resume(con, run_id: str) -> None:
    """Back to queued, its end and error cleared, until the new attempt's start event."""
    con.execute("UPDATE runs SET status = 'queued', ended_at = NULL, duration_s = NULL, error = NULL "
                "WHERE run_id = ?", [run_id])


def delete_rank(con, run_id: str, rank: int) -> None:
    """The rows a rank's event file (events.rank<N>.jsonl) gave: its telemetry and its `[rank N]` logs
    (ingestion stores that file anew: another stream replaced it)."""
    con.execute("DELETE FROM telemetry WHERE run_id = ? AND rank = ?", [run_id, rank])
    con.execute("DELETE FROM logs WHERE run_id = ? AND seq IS NOT NULL AND starts_with(message, ?)",
                [run_id, f"[rank {rank}] "])


def supersede(con, run_id: str, resumed: dict[str, Any]) -> None:
    """A resumed attempt continues from checkpoint step `resumed.step`: the earlier attempt's
    steps and evaluations after it, its tuned results and its saved model are redone, so they
    leave the store (events.jsonl keeps them). Base evaluations in `base_kept` stay."""
    step = int(resumed.get("step") or 0)
    kept = [str(s) for s in resumed.get("base_kept") or []]
    con.execute("DELETE FROM steps WHERE run_id = ? AND step > ?", [run_id, step])
    con.execute("""DELETE FROM evals WHERE run_id = ? AND NOT ((phase = 'base' AND list_contains(?, split))
                                                   OR (phase = 'epoch' AND step <= ?))""", [run_id, kept, step])
    for table in ("fairness", "confusion"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ? AND NOT (phase = 'base' AND list_contains(?, split))",
                    [run_id, kept])
    con.execute("DELETE FROM targets WHERE run_id = ?", [run_id])  # judged again at the new attempt's end
    con.execute("""DELETE FROM artifacts WHERE run_id = ? AND NOT (
                       (kind = 'checkpoint' AND TRY_CAST(json_extract_string(meta, '$.step') AS BIGINT) <= ?)
                    OR (json_extract_string(meta, '$.phase') = 'base'
                        AND list_contains(?, json_extract_string(meta, '$.split'))))""", [run_id, step, kept])


def mark_ended(con, run_id: str, status: str, error: str | None, t: float) -> None:
    """Record a final status for a run whose process ended without an `end` event."""
    con.execute(
        """UPDATE runs SET status = ?, error = coalesce(error, ?), ended_at = coalesce(ended_at, ?),
                  duration_s = coalesce(duration_s, epoch(?::TIMESTAMP - started_at))
           WHERE run_id = ? AND status IN ('queued', 'running')""",
        [status, error, utc(t), utc(t), run_id])


def set_final_status(con, run_id: str, status: str, error: str | None, t: float) -> None:
    """Settle a run's final status, also over an `end` event the launcher knows better than
    (a scheduler's cancel or time limit arrives at the trainer as a plain SIGTERM)."""
    con.execute(
        """UPDATE runs SET status = ?, error = coalesce(?, error), ended_at = coalesce(ended_at, ?),
                  duration_s = coalesce(duration_s, epoch(?::TIMESTAMP - started_at))
           WHERE run_id = ?""",
        [status, error, utc(t), utc(t), run_id])
