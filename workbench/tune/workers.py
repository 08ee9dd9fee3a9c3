"""Who works on a study now: `<run root>/.tune/<group>.workers.json`, a list of entries, one per worker a
`workbench tune` started ({kind: "local", pid, host, started}; a cluster's tune adds its own kinds, with job
ids). A second `tune` of the group refuses to start beside live workers (they would share the GPUs and
the study twice over), and `workbench stop --group G` finds the workers here (review M8).

Store-free and standard library only: the `tune` command writes it, anything may read it."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.tune.paths import TUNE_DIR

PROGRAM = b"workbench.tune.worker"  # a local worker's command line names it (pids are reused)


def workers_file(run_root: Path, group: str) -> Path:
    return run_root / TUNE_DIR / f"{group}.workers.json"


def local_worker(pid: int) -> dict[str, Any]:
    """The entry of a worker process started on this host."""
    return {"kind": "local", "pid": pid, "host": socket.gethostname(), "started": time.time()}


def read_workers(run_root: Path, group: str) -> list[dict[str, Any]]:
    """Every entry recorded (none when the file is missing); an entry that is no object is dropped."""
    path = workers_file(run_root, group)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the tune workers file ({e})", path=path) from None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def record_workers(run_root: Path, group: str, entries: list[dict[str, Any]]) -> None:
    """Add `entries` to the file; entries of workers that have ended are dropped as it is rewritten."""
    _write(run_root, group, [*live_workers(run_root, group), *entries])


def forget_workers(run_root: Path, group: str, entries: list[dict[str, Any]]) -> None:
    """Take `entries` (this invocation's, once it ends) and those of ended workers out of the file; the file
    goes when none is left."""
    gone = [(e.get("kind"), e.get("host"), e.get("pid"), e.get("job_id")) for e in entries]
    kept = [e for e in live_workers(run_root, group) if (e.get("kind"), e.get("host"), e.get("pid"), e.get("job_id"))
            not in gone]
    if kept:
        _write(run_root, group, kept)
    else:
        workers_file(run_root, group).unlink(missing_ok=True)


def live_workers(run_root: Path, group: str) -> list[dict[str, Any]]:
    """The entries whose worker may still run: a local one while its pid is a tune worker of this group on
    this host; any other (another host's, a batch job's) is kept: it cannot be seen from here."""
    return [e for e in read_workers(run_root, group) if not _ended(e, group)]


def describe(entry: dict[str, Any]) -> str:
    """`pid 1234 on host`, or the batch job's id: how a refusal names a worker."""
    if entry.get("kind") == "local":
        return f"pid {entry.get('pid')} on {entry.get('host')}"
    return f"{entry.get('kind')} job {entry.get('job_id')} on {entry.get('host')}"


def _ended(entry: dict[str, Any], group: str) -> bool:
    if entry.get("kind") != "local" or entry.get("host") != socket.gethostname():
        return False
    pid = entry.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()  # empty for a zombie: it has ended
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (macOS): signal 0 says whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return not (PROGRAM in cmdline and group.encode() in cmdline.split(b"\0"))


def _write(run_root: Path, group: str, entries: list[dict[str, Any]]) -> None:
    path = workers_file(run_root, group)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # readers never see half a file
    try:
        tmp.write_text(json.dumps(entries), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
