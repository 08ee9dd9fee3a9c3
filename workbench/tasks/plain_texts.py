"""Plain texts (`workbench predict RUN --text "..."`) as the prediction input of a task: each task writes
them as its own predict input reads them (classification: a CSV of one text column; chat: a user
message per chat; NER: a sentence of whitespace-split tokens) and says how that file is read (the data.*
values that differ from the run's). Kept beside the Task protocol, not in it: a task without it is
refused in one line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


@runtime_checkable
class KeepsModels(Protocol):
    """A task whose finished run's models can be loaded once and kept for many predictions (the app's Try
    tab): `predict_file` is `predict_loaded` with a model loaded for that one call."""

    def load_for_predict(self, run_dir: Path, *, base: bool = False) -> Any:
        """The run's tuned model (`base`: the model it was trained from, as its base evaluation scored it),
        in the form `predict_loaded` takes."""
        ...

    def predict_loaded(self, load: Callable[[], Any], run_dir: Path, input_path: Path, output: Path,
                       batch_size: int | None = None) -> dict[str, Any]:
        """predict_file with the model `load()` returns (called once the input has been read)."""
        ...

    def plain_result(self, row: dict[str, Any]) -> list[str]:
        """A prediction row (a JSON line of `workbench predict`) in the task's own words, a line each."""
        ...


def keeps_models(task: object) -> KeepsModels:
    if not isinstance(task, KeepsModels):
        raise UserError(f"task {getattr(task, 'kind', type(task).__name__)} cannot keep its models loaded to try texts")
    return task


def top_scores(scores: object, k: int = 3) -> str:
    """The `k` highest of a row's scores, as `label 0.912  label 0.051`."""
    if not isinstance(scores, dict) or not scores:
        return ""
    return "  ".join(f"{name} {value:.3f}" for name, value in sorted(scores.items(), key=lambda kv: -kv[1])[:k])
