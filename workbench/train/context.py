"""What the run sequence (workbench/train/pipeline.py) gets from the training process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.events import EventWriter
from workbench.recipe import Recipe
from workbench.train.resume import Resume


class Pruned(Exception):
    """A tune trial its study's pruner stopped (train/prune.py): the run ends `pruned`, this its reason."""


@dataclass
class RunContext:
    run_dir: Path
    run_id: str
    recipe: Recipe
    writer: EventWriter
    rank: int = 0
    world_size: int = 1
    resume: Resume = field(default_factory=lambda: Resume(attempt=1))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def emit(self, type: str, **fields: Any) -> None:
        """Events come from rank 0 only (telemetry excepted: docs/architecture.md, "Event file contract")."""
        if self.is_main:
            self.writer.emit(type, **fields)

    def needs_base_eval(self, split: str) -> bool:
        """False for a split whose base evaluation an earlier attempt of this run recorded."""
        return self.recipe.eval.base and split not in self.resume.base_kept

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def phase(self, name: str, message: str) -> None:
        """Announce a stage (loading, base eval, training, tuned eval): followers show it."""
        self.emit("log", level="info", message=message, phase=name)
