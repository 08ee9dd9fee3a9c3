"""The run folder: every file name in `runs/<run_id>/` and the one place that reads and writes them.

A run folder is the unit of truth (docs/architecture.md, "Run folder"): the store can be rebuilt
from it, a remote host mirrors it by byte offsets, and every process of a run (launcher,
supervisor, trainer, follower, the remote agent) meets the others only through these files.
This module stays light (standard library only): the remote agent imports it on hosts where
workbench runs with nothing but its own code.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from workbench.errors import UserError, environment_fault

RECIPE = "recipe.toml"        # the frozen recipe: every knob resolved, paths absolute
RUN_META = "run.json"         # run id, name, group, host, created_at, launcher facts (launcher)
JOB = "job.json"              # the started job: kind (local / slurm / pbs), pid or job id (agent)
EXIT = "exit.json"            # the supervisor's record of how the trainer ended
EXIT_PREVIOUS = "exit.previous.json"  # a resumed run's earlier exit record
TRAINER = "trainer.json"      # the supervisor's record of the trainer process it started: its pid
LABELS = "labels.json"        # label names (and tuned thresholds) of a finished run (trainer)
EVENTS = "events.jsonl"       # rank 0's event stream, the source of truth (trainer)
TRAIN_LOG = "train.log"       # stdout and stderr of a batch job (scheduler)
FOLLOW_LOCK = ".follow.lock"  # held by the process that ingests this run right now
DATA_DIR = "data"             # uploaded data files of a run on a remote host
ANNOTATIONS = "annotations.json"  # tags, notes, archived, the MLflow run of export-mlflow: added after the run
METRICS = "metrics.json"      # every phase's evaluations per split and label, as `workbench export` writes them
PERFORMANCE_CSV = "performance.csv"  # per phase, split and label: precision, recall, f1, support (tasks that say so)
BIAS_CSV = "bias.csv"         # per phase, split and fairness row: every field of the row (tasks that say so)
TRASHED = "trashed.json"      # where a deleted run's folder came from (`rm`), in runs/.trash/<run_id>/
TRASH_DIR = ".trash"          # runs/.trash/: deleted run folders (a dot folder: `runs/*/run.json` never lists them)
ADAPTER_DIR, MODEL_DIR = "adapter", "model"  # the saved LoRA adapter / full model (train/trainer.py)
CHECKPOINTS_DIR = "checkpoints"  # the Trainer's checkpoint-N folders

# The label under which an evaluation's aggregates travel beside its per-label rows (the store's
# `evals` rows, store/schema.py); metrics.json holds them apart, under "aggregates".
ALL_LABELS = "(all)"
# Splits in the order metrics.json (and a model card) lists them; any other split follows by name.
SPLIT_ORDER = ("validation", "test")

# The trainer's exit status (train/main.py), which the supervisor records in exit.json: how it ended
# when its `end` event cannot be read.
EXIT_COMPLETED, EXIT_FAILED, EXIT_PRUNED, EXIT_INTERRUPTED = 0, 1, 3, 130
EXIT_STATUS = {EXIT_COMPLETED: "completed", EXIT_FAILED: "failed", EXIT_PRUNED: "pruned", EXIT_INTERRUPTED: "interrupted"}


# A run id, which names the run's folder: the recipe's name made safe (letters, digits, _ . -, at most 60,
# not starting with . or -), the creation time and 4 random hex digits. Made by `new_run_id` only; a
# run.json holding anything else is refused (`read_run_meta`), so an id never becomes a path elsewhere.
RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,59}-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}")


def new_run_id(recipe_name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", recipe_name).strip("-.") or "run"
    return f"{safe[:60]}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def check_run_id(run_id: object) -> str:
    """`run_id` when it is one `new_run_id` could have made; else a UserError saying it is not."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise UserError(f"run_id {run_id!r} is not a run id (NAME-YYYYMMDD-HHMMSS-xxxx, as workbench makes them)")
    return run_id


class RunFolderError(UserError):
    """A folder that cannot be taken as a run: which of its files, and why (`sync` skips it, other
    commands stop with it)."""

    def __init__(self, run_dir: Path, file: str, why: str):
        super().__init__(f"{file}: {why}", path=run_dir)
        self.run_dir = run_dir


def folder_fault(e: BaseException, run_dir: Path) -> str | None:
    """What to say, in one line naming the folder, when `e` (raised while `run_dir` was read, ingested
    or followed) is that folder's or the machine's doing, not a bug: a UserError (a run.json or
    recipe.toml that does not load, an event file that cannot be read, the store busy) or the
    environment's OSError (errors.environment_fault); None for anything else (a bug: raised on).
    Commands that go through many folders (`sync`, a writer's `reckon.record`) say it and go on."""
    why = str(e) if isinstance(e, UserError) else environment_fault(e)
    if why is None or why.startswith(str(run_dir)):
        return why
    return f"{run_dir}: {why}"


def events_file(run_dir: Path, rank: int = 0) -> Path:
    """Rank 0 writes `events.jsonl`; ranks > 0 write only telemetry and their errors to their own file."""
    return run_dir / (EVENTS if rank == 0 else f"events.rank{rank}.jsonl")


# The event file of a rank > 0, as the trainer names it (`events_file`): not a copy beside it such as
# events.rank1.bak.jsonl, which the glob below also matches
RANK_FILE = re.compile(r"events\.rank([1-9]\d*)\.jsonl")


def rank_event_files(run_dir: Path) -> list[Path]:
    """The event files of ranks > 0, in name order."""
    return sorted(p for p in run_dir.glob("events.rank*.jsonl") if RANK_FILE.fullmatch(p.name))


def event_files(run_dir: Path) -> list[Path]:
    """Every event file of a run: rank 0's first, then the other ranks' in name order."""
    return [events_file(run_dir), *rank_event_files(run_dir)]


def rank_of(path: Path) -> int:
    """The rank that writes an event file (0 for events.jsonl)."""
    if path.name == EVENTS:
        return 0
    m = RANK_FILE.fullmatch(path.name)
    if m is None:
        raise ValueError(f"{path.name} is no rank's event file")
    return int(m[1])


def followed_names(run_dir: Path) -> list[str]:
    """The files a follower mirrors from a remote run folder: the event files and the batch log."""
    return [EVENTS, *(p.name for p in rank_event_files(run_dir)), TRAIN_LOG]


def saved_outputs(run_dir: Path) -> list[str]:
    """What a run folder holds of the run's results, by name: adapter/ or model/, labels.json, the
    prediction files and reports, and how many checkpoints."""
    held = [f"{d}/" for d in (ADAPTER_DIR, MODEL_DIR) if (run_dir / d).is_dir()]
    held += [LABELS] if (run_dir / LABELS).is_file() else []
    held += sorted(p.name for p in run_dir.glob("predictions_*.jsonl"))
    held += sorted(p.name for p in run_dir.glob("report_*.txt"))
    checkpoints = len(list((run_dir / CHECKPOINTS_DIR).glob("checkpoint-*")))
    return held + ([f"{checkpoints} checkpoint{'s' if checkpoints > 1 else ''}"] if checkpoints else [])


def write_json_atomic(path: Path, data: dict[str, Any], indent: int | None = None) -> None:
    """Write through a temporary file and a rename: readers never see half a file. The temporary
    file is named by its writer's pid (`exit.json.<pid>.tmp`) and removed when the write fails (a
    full disk); one a killed writer left is removed by `remove_leftovers`."""
    _write_atomic(path, json.dumps(data, indent=indent))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:  # a failed write (a full disk) names no file: name the one being written
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# A temporary file is left behind when its writer is gone: not before LEFTOVER_MIN_S (another machine
# may be writing it through a shared file system, where its pid means nothing here; writing one takes
# milliseconds), and then when its pid has ended on this machine, or it is older than LEFTOVER_MAX_S.
LEFTOVER_MIN_S = 60.0
LEFTOVER_MAX_S = 3600.0
_TEMP = re.compile(r"^(?P<name>.+\.(?:jsonl?|csv))(?:\.(?P<pid>\d+))?\.tmp$")  # pid-less: written before pids were


def left_behind(path: Path, pid: int | None, now: float | None = None) -> bool:
    """Is this temporary file (of `write_json_atomic`, or of a store's creation) one its writer left?"""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age < LEFTOVER_MIN_S:
        return False
    return pid is None or age > LEFTOVER_MAX_S or not _pid_exists(pid)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Remove the temporary files of JSON writes a killed (or disk-full) writer left in a run folder
    (`exit.json.<pid>.tmp`, `exit.json.tmp`); the removed ones. A folder that cannot be written
    keeps them until one that can looks again."""
    removed: list[Path] = []
    try:
        names = [e.name for e in os.scandir(run_dir) if e.name.endswith(".tmp")]
    except FileNotFoundError:
        return removed
    for name in names:
        m = _TEMP.match(name)
        if m is None or not left_behind(run_dir / name, int(m["pid"]) if m["pid"] else None):
            continue
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as e:
            if environment_fault(e) is None:
                raise
            break  # a read-only folder: every other one would fail alike
        removed.append(run_dir / name)
    return removed


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None when it does not exist yet (or is being replaced right now)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # being replaced right now (writes are atomic renames): the next poll reads it


def read_run_meta(run_dir: Path, *, own_folder: bool = False) -> dict[str, Any]:
    """run.json: a JSON object whose run_id is a run id (RUN_ID); with `own_folder` (ingestion) also
    the folder's name. Anything else raises RunFolderError (a folder without it is not a run)."""
    path = run_dir / RUN_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(run_dir, RUN_META, "missing") from None
    except OSError as e:
        raise RunFolderError(run_dir, RUN_META, f"cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise RunFolderError(run_dir, RUN_META, "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise RunFolderError(run_dir, RUN_META, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(meta, dict):
        raise RunFolderError(run_dir, RUN_META, f"expected a JSON object, not {type(meta).__name__}")
    if "run_id" not in meta:
        raise RunFolderError(run_dir, RUN_META, "no run_id")
    try:
        check_run_id(meta["run_id"])
    except UserError as e:
        raise RunFolderError(run_dir, RUN_META, str(e)) from None
    if own_folder and meta["run_id"] != run_dir.name:
        raise RunFolderError(run_dir, RUN_META, f"run_id {meta['run_id']!r} is not this folder's name (a copy of "
                             "another run's folder?)")
    return meta


def write_run_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    write_json_atomic(run_dir / RUN_META, meta, indent=2)


def read_job(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / JOB)


def write_job(run_dir: Path, job: dict[str, Any]) -> None:
    write_json_atomic(run_dir / JOB, job)


def read_exit(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / EXIT)


def write_exit(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / EXIT, record)


def read_trainer(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / TRAINER)


def write_trainer(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / TRAINER, record)


def read_labels(run_dir: Path) -> dict[str, Any]:
    """labels.json of a finished run: {"labels": [...], "threshold": ... (classification)}."""
    return json.loads((run_dir / LABELS).read_text(encoding="utf-8"))


def write_labels(run_dir: Path, labels: dict[str, Any]) -> None:
    write_json_atomic(run_dir / LABELS, labels, indent=2)


def metrics_record(run_id: str, task: str, evals: list[tuple], warnings: list[str]) -> dict[str, Any]:
    """metrics.json (a finished run's folder, and `workbench export`'s): {"run_id", "task", "splits": {split:
    {phase: {"labels": {label: {metric: value}}, "aggregates": {metric: value}}}}, "warnings": [...]} from
    (phase, split, label, metric, value) rows in the order recorded (a later row supersedes an earlier
    one; label ALL_LABELS: an aggregate); a non-finite value as null."""
    splits: dict[str, dict[str, dict[str, Any]]] = {}
    for phase, split, label, metric, value in evals:
        entry = splits.setdefault(split, {}).setdefault(phase, {"labels": {}, "aggregates": {}})
        if label == ALL_LABELS:
            entry["aggregates"][metric] = _number(value)
        else:
            entry["labels"].setdefault(label, {})[metric] = _number(value)
    order = [s for s in SPLIT_ORDER if s in splits] + sorted(s for s in splits if s not in SPLIT_ORDER)
    return {"run_id": run_id, "task": task, "splits": {s: splits[s] for s in order}, "warnings": list(warnings)}


def _number(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def write_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / METRICS, record, indent=2)


def write_csv(run_dir: Path, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """A table of the run's results (PERFORMANCE_CSV, BIAS_CSV) as CSV with a header row; a missing
    value is an empty cell."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    _write_atomic(run_dir / name, out.getvalue())


def read_annotations(run_dir: Path) -> dict[str, Any]:
    """{"tags": {key: value}, "notes": [{"t": unix seconds, "text": ...}], "archived": bool,
    "mlflow": {"run": id, "uri": tracking URI} or None (where `workbench export-mlflow` sent it)}."""
    data = read_json(run_dir / ANNOTATIONS) or {}
    mlflow = data.get("mlflow")
    return {"tags": dict(data.get("tags") or {}), "notes": list(data.get("notes") or []),
            "archived": bool(data.get("archived", False)), "mlflow": dict(mlflow) if isinstance(mlflow, dict) else None}


def write_annotations(run_dir: Path, annotations: dict[str, Any]) -> None:
    write_json_atomic(run_dir / ANNOTATIONS, annotations, indent=2)



def read_trashed(run_dir: Path) -> dict[str, Any]:
    """trashed.json of a deleted run's folder: {"t": unix seconds, "from": the folder's path before, when
    it was not runs/<run_id>} ({} when missing)."""
    return read_json(run_dir / TRASHED) or {}


def write_trashed(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / TRASHED, record)


def ids_matching(ids: list[str], ref: str) -> list[str]:
    """The run ids `ref` names, in order: equal to it or starting with it, else ending with it when it
    has 4 characters or more (the short ids the app shows are a run id's last characters)."""
    found = [i for i in ids if i.startswith(ref)]
    if not found and len(ref) >= 4:
        found = [i for i in ids if i.endswith(ref)]
    return sorted(found)
