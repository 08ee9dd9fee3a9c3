"""`workbench export` and `workbench export-mlflow`: a finished run, outside workbench."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "export", "Export a finished run as a folder usable without workbench: the adapter (or model) with its "
                 "tokenizer, labels.json, metrics.json, recipe.toml and a model card saying how to load it.", _export)
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
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
    from workbench.commands.export import main

    return int(main(args) or 0)


def _export_mlflow(args: argparse.Namespace) -> int:
    from workbench.commands.export_mlflow import main

    return int(main(args) or 0)
