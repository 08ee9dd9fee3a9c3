"""Continuing a run that was stopped or killed (`workbench resume RUN`).

The run folder says where the run got to: its events (what was recorded) and its Trainer
checkpoints (what can be continued). A resumed trainer appends to the same events.jsonl
(seq goes on), starts again from the newest *complete* checkpoint, keeps the base-model
evaluations already recorded, and redoes the rest. Its `start` event carries `resumed`
(from which step, which base evaluations were kept), and ingestion drops from the store the
rows of the earlier attempt that the new one supersedes (steps and evaluations after that
step, tuned results), so the store holds the run as it finished while events.jsonl keeps the
whole history.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.events import CHUNK_BYTES, Eval, Event, Start, Tracking, read_events

CHECKPOINTS = "checkpoints"
# Trainer writes a checkpoint in this order: weights, optimizer + scheduler, RNG state, and
# trainer_state.json last. A checkpoint is complete only with all of them (a kill during the
# save, or during the deletion of an older one, leaves a folder missing some).
WEIGHTS = ("adapter_model.safetensors", "model.safetensors", "pytorch_model.bin", "adapter_model.bin")
STATE_FILES = ("optimizer.pt", "scheduler.pt", "trainer_state.json")


@dataclass
class Resume:
    attempt: int                       # 1 for a first start, 2 for the first resume, ...
    checkpoint: Path | None = None     # the Trainer continues from here (None: training starts over)
    step: int = 0                      # its global step (0: none)
    base_kept: list[str] = field(default_factory=list)  # splits whose base evaluation is recorded
    removed: list[str] = field(default_factory=list)    # incomplete checkpoint folders deleted

    def event(self) -> dict[str, Any]:
        return {"step": self.step, "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                "base_kept": self.base_kept}


def checkpoint_step(path: Path) -> int | None:
    """The global step of a complete checkpoint folder, else None."""
    try:
        state = json.loads((path / "trainer_state.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not all((path / f).is_file() for f in STATE_FILES) or not any((path / w).is_file() for w in WEIGHTS):
        return None
    step = state.get("global_step")
    return step if isinstance(step, int) and path.name == f"checkpoint-{step}" else None


def earlier_events(path: Path) -> list[Event]:
    """The events of the earlier attempts that a new start needs (`plan` and the trainer's MLflow run):
    each `start`, base evaluation and `tracking`. Read in batches of CHUNK_BYTES, the rest let go batch
    by batch. Held whole, a file's events took ~4x its size for the whole of the resumed run: the
    trainer's peak was 154 MiB with 24 MiB of earlier events, 227 MiB with 48; now 81 MiB with either."""
    kept: list[Event] = []
    read = read_events(path, max_bytes=CHUNK_BYTES)
    while True:
        kept += [e for e in read.events if isinstance(e, (Start, Tracking)) or (isinstance(e, Eval) and e.phase == "base")]
        if not read.more:
            return kept
        read = read_events(path, read.offset, read.line, max_bytes=CHUNK_BYTES)


def plan(run_dir: Path, prior: list[Event], *, remove_torn: bool = True) -> Resume:
    """What this start continues from, given the events already in the file (none: a first start).
    Incomplete checkpoint folders are deleted (by rank 0 only: `remove_torn`)."""
    starts = [e for e in prior if isinstance(e, Start)]
    if not starts:
        return Resume(attempt=1)
    out = Resume(attempt=len(starts) + 1)
    # A base evaluation once recorded (its artifacts are written before its event) is kept.
    out.base_kept = sorted({e.split for e in prior if isinstance(e, Eval) and e.phase == "base"})
    folder = run_dir / CHECKPOINTS
    complete: list[tuple[int, Path]] = []
    for path in sorted(folder.glob("checkpoint-*")) if folder.is_dir() else []:
        step = checkpoint_step(path)
        if step is None:
            if remove_torn:  # torn: the Trainer's rotation would take it for the newest one
                shutil.rmtree(path, ignore_errors=True)
                out.removed.append(path.name)
        else:
            complete.append((step, path))
    if complete:
        out.step, out.checkpoint = max(complete)
    return out
