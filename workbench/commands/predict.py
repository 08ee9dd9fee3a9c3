"""`workbench predict RUN --input CSV --output JSONL`."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import resolve_run, run_dir_of, store_of
from workbench.console import console, fmt
from workbench.errors import UserError
from workbench.recipe import load_recipe
from workbench.recipe.load import label_map
from workbench.store.db import connect


def main(args) -> int:
    store = store_of(args)
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, args.run)
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    if status != "completed":
        raise UserError(f"run {run_id} is {status}; predict needs a completed run")
    run_dir = run_dir_of(store, run_id)
    recipe = load_recipe(run_dir / "recipe.toml")
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

        reader(recipe.values)(args.input)

    from workbench.models.load import quiet_transformers
    from workbench.tasks import task_module

    quiet_transformers()
    summary = task_module(recipe["task"]).predict_file(run_dir, recipe.values, Path(args.input), out, args.batch_size)
    console.print(f"wrote {summary['rows']} predictions to {summary['output']}")
    if "aggregates" in summary:
        agg = summary["aggregates"]
        console.print("input has labels: " + "  ".join(
            f"{m} {fmt(agg[m])}" for m in ("f1_micro", "f1_macro", "accuracy", "exact_match", "loss", "unparseable",
                                           "malformed") if m in agg))
    return 0
