"""A finished run's tuned model, and the base model it was trained from, loaded once and kept to answer typed
texts one after another (the app's Try tab). Each answer is the row `workbench predict RUN --text` writes for
the text, by the same code (actions/predict.py's reading of typed texts, the task's `predict_loaded`), and the
task's own words for it (`plain_result`). `release` drops the models (the detail screen closing)."""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.actions.refs import completed_run
from workbench.errors import UserError


@dataclass(frozen=True)
class TryAnswer:
    """One model's answer to a typed text: the prediction row as `workbench predict --text --format json`
    prints it, and the task's lines for it."""

    row: dict[str, Any]
    lines: tuple[str, ...]


class TryModels:
    """The models of run `ref` (a completed run whose folder holds its weights: refused in one line
    otherwise), loaded at the first `try_text` (the base model only when it is asked for) and kept."""

    def __init__(self, store: Path, ref: str, *, read_only: bool = True) -> None:
        self.run_id, self.run_dir, self.recipe = completed_run(store, ref, "trying a text", read_only=read_only)
        weights = [self.run_dir / name for name in (rundir.ADAPTER_DIR, rundir.MODEL_DIR)]
        if not any(w.is_dir() for w in weights) or not (self.run_dir / rundir.LABELS).is_file():
            raise UserError(f"run {self.run_id} has no trained weights to try: {self.run_dir} holds no "
                            f"{rundir.ADAPTER_DIR}/ or {rundir.MODEL_DIR}/ with {rundir.LABELS}")
        self.loads: list[str] = []  # what was loaded, in order ("tuned", "base"): each once while kept
        self._task: Any = None
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()  # one try at a time; release waits for it

    def try_text(self, text: str, *, base: bool = True) -> tuple[TryAnswer, TryAnswer | None]:
        """The tuned model's answer to `text` and (`base`) the base model's."""
        with self._lock, tempfile.TemporaryDirectory(prefix="workbench-try-") as tmp:
            folder = Path(tmp)
            task, input_file = self._reader(text, folder)
            answers = [self._answer(task, which, input_file, folder) for which in ("tuned", "base")[:2 if base else 1]]
        return answers[0], answers[1] if base else None

    def _reader(self, text: str, folder: Path) -> tuple[Any, Path]:
        """The task bound to how typed texts are read (as `workbench predict --text` binds it) and the text's
        input file; the task is made once and kept with the models it loads."""
        from workbench.models.load import quiet_transformers
        from workbench.tasks import get_task
        from workbench.tasks.plain_texts import keeps_models, texts_input

        input_file, reading = texts_input(self._task or get_task(self.recipe.values), [text], folder)
        if self._task is None:
            quiet_transformers()
            self._task = keeps_models(get_task(self.recipe.with_values(reading).values))
        return self._task, input_file

    def _answer(self, task: Any, which: str, input_file: Path, folder: Path) -> TryAnswer:
        output = folder / f"{which}.jsonl"
        task.predict_loaded(lambda: self._model(task, which), self.run_dir, input_file, output)
        row = json.loads(output.read_text(encoding="utf-8").splitlines()[0])
        return TryAnswer(row, tuple(task.plain_result(row)))

    def _model(self, task: Any, which: str) -> Any:
        if which not in self._models:
            self._models[which] = task.load_for_predict(self.run_dir, base=which == "base")
            self.loads.append(which)
        return self._models[which]

    @property
    def loaded(self) -> tuple[str, ...]:
        """The models kept now."""
        return tuple(self._models)

    def release(self) -> None:
        """Drop the models and free their memory (the GPU's too); a later try loads them again."""
        with self._lock:
            self._models.clear()
            self._task = None
        import gc
        import sys

        gc.collect()
        torch = sys.modules.get("torch")  # only where a model was loaded
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
