"""Named points in a training run where the reliability tests kill the trainer for real.

`WORKBENCH_KILL_AT=point` (or `point#n`, the n-th time the point is reached) makes the trainer
SIGKILL itself there: no handler runs, no `end` event is written, files are left as a crash
or an out-of-memory kill leaves them. The points are the places a kill is hardest to recover
from (mid-save, mid-evaluation), which a test cannot hit reliably from outside. Unset (always,
outside tests), `at` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "WORKBENCH_KILL_AT"
POINTS = ("load", "base_eval", "step", "epoch_eval", "checkpoint_save", "tuned_eval", "save")
_hits: dict[str, int] = {}


def at(point: str, step: int | None = None) -> None:
    """Reached `point` (for "step": global step `step`, named "step:N")."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name = f"{point}:{step}" if step is not None else point
    _hits[name] = _hits.get(name, 0) + 1
    if wanted in (name, f"{name}#{_hits[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)
