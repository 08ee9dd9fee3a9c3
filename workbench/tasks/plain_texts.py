"""Plain texts (`workbench predict RUN --text "..."`) as the prediction input of a task: each task writes
them as its own predict input reads them (classification: a CSV of one text column; chat: a user
message per chat; NER: a sentence of whitespace-split tokens) and says how that file is read (the data.*
values that differ from the run's). Kept beside the Task protocol, not in it: a task without it is
refused in one line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from workbench.errors import UserError


@runtime_checkable
class ReadsPlainTexts(Protocol):
    def plain_texts_input(self, texts: Sequence[str], folder: Path) -> tuple[Path, dict[str, Any]]:
        """Write `texts` into `folder` as this task's prediction input: (the file, the data.* values that
        read it, replacing the run's: a text template, an id or group column the texts lack)."""
        ...


def texts_input(task: object, texts: Sequence[str], folder: Path) -> tuple[Path, dict[str, Any]]:
    """`task.plain_texts_input`, for a task that has it; each text must hold more than white space."""
    empty = [i for i, t in enumerate(texts, 1) if not t.strip()]
    if empty:
        raise UserError(f"--text number {empty[0]} is empty: expected a text to predict")
    if not isinstance(task, ReadsPlainTexts):
        raise UserError(f"task {getattr(task, 'kind', type(task).__name__)} takes no --text: give --input FILE")
    return task.plain_texts_input(texts, folder)
