"""`workbench predict RUN --input CSV --output JSONL`."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import completed_run
from workbench.console import console, fmt
from workbench.errors import UserError


def main(args) -> int:
    _run_id, run_dir, recipe = completed_run(args, "predict")
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
