"""`workbench predict RUN --input CSV --output JSONL`."""

from __future__ import annotations

from pathlib import Path

from workbench.actions.refs import completed_run
from workbench.commands.common import store_of
from workbench.console import console, fmt
from workbench.errors import UserError


def main(args) -> int:
    _run_id, run_dir, recipe = completed_run(store_of(args), args.run, "predict")
    recipe = recipe.with_values(data_overrides(args))
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: expected a positive integer")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError("output folder does not exist", path=out.parent)
    from workbench.models.load import quiet_transformers
    from workbench.tasks import get_task

    quiet_transformers()
    # The task reads and validates the input before it loads any model.
    summary = get_task(recipe.values).predict_file(run_dir, Path(args.input), out, args.batch_size)
    console.print(f"wrote {summary['rows']} predictions to {summary['output']}")
    if "counts" in summary:  # generative, unlabelled input
        counts = summary["counts"]
        console.print("input has no answers to score; " + ", ".join(
            f"{m} {int(counts[m])}" for m in ("unparseable", "malformed") if m in counts) + " of the generated ones")
    if "aggregates" in summary:
        agg = summary["aggregates"]
        console.print("input has labels: " + "  ".join(
            f"{m} {fmt(agg[m])}" for m in ("f1_micro", "f1_macro", "accuracy", "exact_match", "loss", "unparseable",
                                           "malformed") if m in agg))
    return 0


def data_overrides(args) -> dict:
    """`--set data.KEY=VALUE` and `--text-column NAME`: how the input file is read (its text column or
    template, id column, format, label columns) may differ from the training data's; nothing else may."""
    from workbench.recipe.load import did_you_mean
    from workbench.recipe.schema import BY_NAME, coerce

    items = list(getattr(args, "overrides", None) or [])
    if getattr(args, "text_column", None):
        items.append(f"data.text_column={args.text_column}")
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

