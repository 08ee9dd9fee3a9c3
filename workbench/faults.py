"""Named points in a training run where the reliability tests kill the trainer for real.

`WORKBENCH_KILL_AT=point` (or `point#n`, the n-th time the point is reached) makes the trainer
SIGKILL itself there: no handler runs, no `end` event is written, files are left as a crash
or an out-of-memory kill leaves them. The points are the places a kill is hardest to recover
from (mid-save, mid-evaluation), which a test cannot hit reliably from outside. Unset (always,
outside tests), `at` is one dictionary lookup.

`WORKBENCH_HOLD_AT=point` makes the trainer stop there instead (it sleeps until killed, after one
line on stderr that says so), so a test can SIGKILL it from outside at a known place rather than
racing a fast tiny model.

`WORKBENCH_RAISE_AT=point` raises a RuntimeError there: a deliberate bug, to check that bugs are
reported as bugs (exit status 1, a traceback in the run's log), never as the user's bad input.

`WORKBENCH_PAUSE_AT=point` makes the process wait there until the file named by
`WORKBENCH_RELEASE` exists (one line on stderr says it paused), then go on: a test changes the
run folder (truncates, replaces or removes events.jsonl) at a known moment of a run that then
finishes, instead of racing it.

`WORKBENCH_ENOSPC_AT=point` raises OSError(ENOSPC) there, naming the file the point was about to
write: a disk that fills at a moment no test can reach by filling a real one (the supervisor's
exit.json after a trainer that ended well: "exit_json").
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path

ENV = "WORKBENCH_KILL_AT"
HOLD_ENV = "WORKBENCH_HOLD_AT"
RAISE_ENV = "WORKBENCH_RAISE_AT"
ENOSPC_ENV = "WORKBENCH_ENOSPC_AT"
PAUSE_ENV = "WORKBENCH_PAUSE_AT"
RELEASE_ENV = "WORKBENCH_RELEASE"
# "ingest": ingestion of one run folder, inside its transaction (the follower's and `sync`'s); "record": a
# writer's record of unfinished runs (launch/reckon.py), between its reckoning and the follow lock
POINTS = ("load", "base_eval", "step", "epoch_eval", "checkpoint_save", "tuned_eval", "save", "launch", "exit_json",
          "ingest", "record")
_hits: dict[str, int] = {}


def at(point: str, step: int | None = None, path: Path | None = None) -> None:
    """Reached `point` (for "step": global step `step`, named "step:N"; `path`: the file it writes next)."""
    kill, hold, bug = os.environ.get(ENV), os.environ.get(HOLD_ENV), os.environ.get(RAISE_ENV)
    full, pause = os.environ.get(ENOSPC_ENV), os.environ.get(PAUSE_ENV)
    if not (kill or hold or bug or full or pause):
        return
    name = f"{point}:{step}" if step is not None else point
    _hits[name] = _hits.get(name, 0) + 1
    here = (name, f"{name}#{_hits[name]}")
    if kill in here:
        os.kill(os.getpid(), signal.SIGKILL)
    if bug in here:
        raise RuntimeError(f"deliberate bug at {name} ({RAISE_ENV})")
    if full in here:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) if path is not None else name)
    if pause in here:
        release = Path(os.environ.get(RELEASE_ENV) or "")
        print(f"workbench faults: paused at {name} ({PAUSE_ENV}) until {release} exists", file=sys.stderr, flush=True)
        while not release.is_file():  # a state the test sets, however long that takes
            time.sleep(0.05)
    if hold in here:
        print(f"workbench faults: held at {name} ({HOLD_ENV})", file=sys.stderr, flush=True)  # what tests wait for
        while True:  # until the test's SIGKILL arrives
            time.sleep(60)
