"""A finished run's model on a file, on what came on stdin, or on plain texts, for `workbench predict RUN
--input FILE|- --output JSONL|-` and `workbench predict RUN --text "..."`."""

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
    unlabelled input; `lines`: the JSON lines themselves when they were asked for rather than written
    (no output file: output is "-")."""

    rows: int
    output: str
    aggregates: dict[str, float] | None
    counts: dict[str, float] | None
    lines: tuple[str, ...] | None = None


STDIN = "-"  # the input file name that stands for what came on stdin (`stdin_text`), and the output for none


def predict(store: Path, ref: str, input_file: Path | None, output: Path | None, *, batch_size: int | None = None,
            overrides: Sequence[str] = (), text_column: str | None = None, texts: Sequence[str] = (),
            stdin_text: str | None = None) -> Predictions:
    """Predict with the model of the completed run `ref` names, one JSON line per input row, of one input:
    `input_file`; `stdin_text`, a file's contents in the run's data format (given on stdin); or `texts`,
    plain texts the task reads as its prediction input reads them (workbench/tasks/plain_texts.py).
    `output` None: the lines come back in `lines`, no file is written. `overrides` (data.KEY=VALUE) and
    `text_column` say how the input is read when it differs from the training data. The task reads and
    validates the input before it loads any model."""
    import tempfile

    given = [what for what, value in (("--input", input_file), ("--input -", stdin_text), ("--text", texts or None))
             if value is not None]
    if len(given) != 1:
        raise UserError(f"predict: give one input ({', '.join(given)} given): --input FILE, --input - (stdin) or "
                        "--text TEXT" if given else "predict: give --input FILE, --input - (stdin) or --text TEXT")
    with tempfile.TemporaryDirectory(prefix="workbench-predict-") as tmp:
        folder = Path(tmp)
        done = _predict(store, ref, input_file, output or folder / "predictions.jsonl", batch_size=batch_size,
                        overrides=overrides, text_column=text_column, texts=texts, stdin_text=stdin_text, folder=folder)
        if output is not None:
            return done
        lines = tuple((folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines())
    return Predictions(done.rows, STDIN, done.aggregates, done.counts, lines)


def _predict(store: Path, ref: str, input_file: Path | None, output: Path, *, batch_size: int | None,
             overrides: Sequence[str], text_column: str | None, texts: Sequence[str], stdin_text: str | None,
             folder: Path) -> Predictions:
    _run_id, run_dir, recipe = completed_run(store, ref, "predict")
    recipe = recipe.with_values(data_overrides(overrides, text_column))
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: expected a positive integer")
    if not output.parent.is_dir():
        raise UserError("output folder does not exist", path=output.parent)
    from workbench.models.load import quiet_transformers
    from workbench.tasks import get_task
    from workbench.tasks.plain_texts import texts_input

    if texts:
        input_file, reading = texts_input(get_task(recipe.values), texts, folder)
        recipe = recipe.with_values(reading)
    elif stdin_text is not None:  # a file of the run's data format, named so its readers know it
        data = recipe.data
        suffix = f".{data.format}" if data.format else Path(data.train_file).suffix or ".csv"
        input_file = folder / f"stdin{suffix}"
        input_file.write_text(stdin_text, encoding="utf-8")
    assert input_file is not None
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
