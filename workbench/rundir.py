"""The run folder: every file name in `runs/<run_id>/` and the one place that reads and writes them.

A run folder is the unit of truth (docs/architecture.md, "Run folder"): the store can be rebuilt
from it, a remote host mirrors it by byte offsets, and every process of a run (launcher,
supervisor, trainer, follower, the remote agent) meets the others only through these files.
This module stays light (standard library only): the remote agent imports it on hosts where
workbench runs with nothing but its own code.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from workbench.errors import environment_fault

RECIPE = "recipe.toml"        # the frozen recipe: every knob resolved, paths absolute
RUN_META = "run.json"         # run id, name, group, host, created_at, launcher facts (launcher)
JOB = "job.json"              # the started job: kind (local / slurm / pbs), pid or job id (agent)
EXIT = "exit.json"            # the supervisor's record of how the trainer ended
EXIT_PREVIOUS = "exit.previous.json"  # a resumed run's earlier exit record
LABELS = "labels.json"        # label names (and tuned thresholds) of a finished run (trainer)
EVENTS = "events.jsonl"       # rank 0's event stream, the source of truth (trainer)
TRAIN_LOG = "train.log"       # stdout and stderr of a batch job (scheduler)
FOLLOW_LOCK = ".follow.lock"  # held by the process that ingests this run right now
DATA_DIR = "data"             # uploaded data files of a run on a remote host
ANNOTATIONS = "annotations.json"  # tags, notes, archived, the MLflow run of export-mlflow: added after the run
TRASHED = "trashed.json"      # where a deleted run's folder came from (`rm`), in runs/.trash/<run_id>/
TRASH_DIR = ".trash"          # runs/.trash/: deleted run folders (a dot folder: `runs/*/run.json` never lists them)


def events_file(run_dir: Path, rank: int = 0) -> Path:
    """Rank 0 writes `events.jsonl`; ranks > 0 write only telemetry and their errors to their own file."""
    return run_dir / (EVENTS if rank == 0 else f"events.rank{rank}.jsonl")


def rank_event_files(run_dir: Path) -> list[Path]:
    """The event files of ranks > 0, in name order."""
    return sorted(run_dir.glob("events.rank*.jsonl"))


def event_files(run_dir: Path) -> list[Path]:
    """Every event file of a run: rank 0's first, then the other ranks' in name order."""
    return [events_file(run_dir), *rank_event_files(run_dir)]


def rank_of(path: Path) -> int:
    """The rank that writes an event file (0 for events.jsonl)."""
    if path.name == EVENTS:
        return 0
    return int(path.name[len("events.rank"):-len(".jsonl")])


def followed_names(run_dir: Path) -> list[str]:
    """The files a follower mirrors from a remote run folder: the event files and the batch log."""
    return [EVENTS, *(p.name for p in rank_event_files(run_dir)), TRAIN_LOG]


def write_json_atomic(path: Path, data: dict[str, Any], indent: int | None = None) -> None:
    """Write through a temporary file and a rename: readers never see half a file. The temporary
    file is named by its writer's pid (`exit.json.<pid>.tmp`) and removed when the write fails (a
    full disk); one a killed writer left is removed by `remove_leftovers`."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=indent), encoding="utf-8")
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
_TEMP = re.compile(r"^(?P<name>.+\.json)(?:\.(?P<pid>\d+))?\.tmp$")  # pid-less: written before pids were


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


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    """run.json; a missing or unreadable one raises (a folder without it is not a run)."""
    return json.loads((run_dir / RUN_META).read_text(encoding="utf-8"))


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


def read_labels(run_dir: Path) -> dict[str, Any]:
    """labels.json of a finished run: {"labels": [...], "threshold": ... (classification)}."""
    return json.loads((run_dir / LABELS).read_text(encoding="utf-8"))


def write_labels(run_dir: Path, labels: dict[str, Any]) -> None:
    write_json_atomic(run_dir / LABELS, labels, indent=2)


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
