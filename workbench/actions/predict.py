"""A finished run's model on a file, for `workbench predict RUN --input FILE --output JSONL`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.actions.refs import completed_run
from workbench.errors import UserError


@dataclass(frozen=True)
class Predictions:
    """A predicted file: the rows written and the JSONL they went to; `aggregates` (metric → value) when
    the input had labels to score; `counts` (unparseable, malformed, invented) for a generative model's answers to
    unlabelled input."""

    rows: int
    output: str
    aggregates: dict[str, float] | None
    counts: dict[str, float] | None


def predict(store: Path, ref: str, input_file: Path, output: Path, *, batch_size: int | None = None,
            overrides: Sequence[str] = (), text_column: str | None = None) -> Predictions:
    """Predict `input_file` with the model of the completed run `ref` names, one JSON line per input row.
    `overrides` (data.KEY=VALUE) and `text_column` say how the input is read when it differs from the
    training data. The task reads and validates the input before it loads any model."""
    _run_id, run_dir, recipe = completed_run(store, ref, "predict")
    recipe = recipe.with_values(data_overrides(overrides, text_column))
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: expected a positive integer")
    if not output.parent.is_dir():
        raise UserError("output folder does not exist", path=output.parent)
    from workbench.models.load import quiet_transformers
    from workbench.tasks import get_task

    quiet_transformers()
    summary = get_task(recipe.values).predict_file(run_dir, input_file, output, batch_size)
    return Predictions(int(summary["rows"]), str(summary["output"]), summary.get("aggregates"), summary.get("counts"))


def data_overrides(overrides: Sequence[str], text_column: str | None = None) -> dict[str, Any]:
    """`--set data.KEY=VALUE` and `--text-column NAME`: how the input file is read (its text column or
    template, id column, format, label columns) may differ from the training data's; nothing else may."""
    from workbench.recipe.load import did_you_mean
    from workbench.recipe.schema import BY_NAME, coerce

    items = list(overrides)
    if text_column:
        items.append(f"data.text_column={text_column}")
    changes = {}
    for item in items:
        name, eq, text = (p.strip() for p in item.partition("="))
        if not eq:
            raise UserError(f"--set {item!r}: expected data.key=value")
        knob = BY_NAME.get(name)
        if knob is None:
            raise UserError(f"--set {name}: unknown key{did_you_mean(name, [k for k in BY_NAME if k.startswith('data.')])}")
        if knob.section != "data" or knob.kind == "path":
            raise UserError(f"--set {name}: predict takes the keys that say how the input is read (data.text_column, "
                            "data.text_template, data.id_column, data.format, data.label_*); the model's own settings "
                            "are the run's")
        got = coerce(knob, text, from_text=True)
        if got.error:
            raise UserError(f"--set {got.error}")
        changes[name] = got.value
    return changes
