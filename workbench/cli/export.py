"""`workbench export` and `workbench export-mlflow`: a finished run, outside workbench
(workbench.actions.export does the work; this module says what was written)."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import RUN_HELP, Subparsers, command, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "export", "Export a finished run as a folder usable without workbench: the adapter (or model) with its "
                 "tokenizer, labels.json, metrics.json, recipe.toml and a model card saying how to load it.", _export)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--output", required=True, help="folder to write (must not exist, or be empty)")
    sp.add_argument("--merged", action="store_true", help="merge the LoRA adapter into its base (as `merge` does): "
                    "a folder plain transformers loads without peft")
    sp.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                    help="weights' dtype of a merged or full model (auto: as saved; fp32 for tiny models)")
    sp.add_argument("--format", choices=("folder", "sagemaker"), default="folder",
                    help="folder: the files in DIR (default); sagemaker: DIR/model.tar.gz for a SageMaker endpoint "
                    "(the model merged, code/inference.py, code/requirements.txt; the card beside it)")

    sp = command(sub, "export-mlflow", "Send finished runs to MLflow: the recipe as params, step metrics, every base and tuned "
                 "evaluation per label, fairness rows, the adapter, reports and prediction files. A run already there "
                 "(tagged workbench.run_id) is skipped.", _export_mlflow)
    sp.add_argument("runs", nargs="+", metavar="RUN", help="run ids (unique prefix or suffix, 'last')")
    sp.add_argument("--tracking-uri", help="where to (default: the run's train.mlflow_tracking_uri, else "
                    "$MLFLOW_TRACKING_URI, else runs/mlflow.db beside the run folders)")
    sp.add_argument("--experiment", help="MLflow experiment (default: the run's train.mlflow_experiment, else "
                    "$MLFLOW_EXPERIMENT_NAME, else the recipe's name)")
    sp.add_argument("--again", action="store_true", help="send a run again as a new MLflow run even if one is there")


def _export(args: argparse.Namespace) -> int:
    from workbench.actions.export.folder import plan_export, write_export
    from workbench.console import console

    plan = plan_export(store_of(args), args.run, args.output, merged=args.merged, dtype=args.dtype, fmt=args.format)
    if plan.merge_ignored:
        console.print(f"note: {plan.run_id} is a full fine-tune: there is no adapter to merge; exporting its model")
    console.print(write_export(plan).summary)
    return 0


def _export_mlflow(args: argparse.Namespace) -> int:
    from workbench.actions.export.mlflow import runs_to_send, send_run
    from workbench.console import console

    store = store_of(args)
    for run_id, status in runs_to_send(store, args.runs):
        sent = send_run(store, run_id, status, tracking_uri=args.tracking_uri, experiment=args.experiment,
                        again=args.again)
        if sent.existed:
            console.print(f"{run_id}: already in MLflow as run {sent.mlflow_run} at {sent.where} (--again sends it "
                          "anew)")
        else:
            console.print(f"{run_id}: MLflow run {sent.mlflow_run} in experiment {sent.experiment} at {sent.where} "
                          f"({sent.metrics:,} metric values, {sent.files} files)")
    return 0
