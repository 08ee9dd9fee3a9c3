"""`workbench predict RUN --input CSV --output JSONL`."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import completed_run
from workbench.console import console, fmt
from workbench.errors import UserError
from workbench.recipe.load import label_map


def main(args) -> int:
    _run_id, run_dir, recipe = completed_run(args, "predict")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: expected a positive integer")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError("output folder does not exist", path=out.parent)
    # Read and validate the input before loading any model.
    if recipe["task"] == "classification":
        from workbench.data.csv_labels import read_labeled_csv

        read_labeled_csv(args.input, recipe["data.text_column"], label_map(recipe.values), require_labels=False)
    else:
        from workbench.data.splits import reader

        reader(recipe.values, unlabelled=True)(args.input)

    from workbench.models.load import quiet_transformers
    from workbench.tasks import task_module

    quiet_transformers()
    summary = task_module(recipe["task"]).predict_file(run_dir, recipe.values, Path(args.input), out, args.batch_size)
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
