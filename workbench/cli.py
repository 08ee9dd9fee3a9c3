"""`workbench` command line: argument parsing only. Each command lives in workbench.commands.

Imports stay lazy: `workbench --help` loads neither torch nor transformers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from workbench import __version__
from workbench.errors import UserError, environment_fault


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit status 2, like every other bad input
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description="Terminal workbench for LoRA / QLoRA fine-tuning. "
                "With no command, opens the Textual app.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--store", metavar="PATH", help="run store (default: $WORKBENCH_STORE or ./runs.duckdb; "
                   "run folders go to runs/ beside it)")
    p.add_argument("--debug", action="store_true", help="print a bug's traceback (it is also in the run's log)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def cmd(name: str, help: str, module: str, func: str = "main") -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(_module=module, _func=func)
        sp.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sp

    sp = cmd("init", "Copy the shipped recipes (with their demo data) into DIR/recipes, to edit and run.", "init")
    sp.add_argument("dir", nargs="?", default=".", help="folder to hold recipes/ (default: the current folder)")
    sp.add_argument("--force", action="store_true", help="overwrite files that already exist")

    sp = cmd("run", "Validate a recipe, start it, follow it live, and print base vs tuned metrics.", "run")
    sp.add_argument("recipe", help="recipe .toml file, or a shipped recipe's name (e.g. demo/encoder_multilabel)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a recipe value (repeatable), e.g. --set lora.r=32")
    sp.add_argument("--detach", action="store_true", help="start the run and return at once (`workbench attach` follows it)")
    sp.add_argument("--dry-run", action="store_true", help="validate and print the exact command or batch script; "
                    "start nothing")
    sp.add_argument("--name", help="the runs' name (run ids start with it; default: the recipe's `name`, else its "
                    "file name)")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")
    sp.add_argument("--seeds", metavar="LIST", help="one run per train.seed, in one group, e.g. 1,2,3 or 0-4: a job "
                    "array on SLURM, one job each on PBS, one after another elsewhere")
    sp.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="SECTION.KEY=V1,V2",
                    help="sweep a knob over these values (repeatable; a grid by default, crossed with seeds and "
                    "methods); LO..HI is a range for sweep.mode=random, [..] a TOML list")
    sp.add_argument("--parallel", type=int, default=1, metavar="K", help="local sweeps: K runs at a time "
                    "(CPU runs; each needs its own cores)")
    _launch_flags(sp)

    sp = cmd("attach", "Follow a running run again (progress, telemetry); Ctrl-C detaches, the run goes on.",
             "jobs", "attach")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = cmd("resume", "Continue a failed, interrupted or cancelled run from its last complete checkpoint, on "
             "the target it ran on; base evaluations already recorded are kept.", "jobs", "resume")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--detach", action="store_true", help="start it and return at once")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = cmd("stop", "Stop a run wherever it runs (signal / scancel / qdel); it ends as cancelled.", "jobs", "stop")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--force", action="store_true", help="kill at once (SIGKILL / scancel --signal=KILL)")
    sp.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the final status (default 120)")
    sp.add_argument("--no-wait", action="store_true", help="send the stop and return")

    sp = cmd("runs", "List runs from the store (archived runs only with --all).", "browse", "runs")
    sp.add_argument("--status", help="only runs with this status (queued, running, completed, failed, interrupted, "
                    "cancelled)")
    sp.add_argument("--tag", action="append", metavar="KEY[=VALUE]", help="only runs with this tag (repeatable)")
    sp.add_argument("--all", action="store_true", help="archived runs too")
    sp.add_argument("--recipe", help="only runs of this recipe name")
    sp.add_argument("--limit", type=int, default=50, help="most recent N runs (default 50; 0: all)")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sp = cmd("show", "A run: recipe, status, timings, parameter counts, per-label metrics.", "browse", "show")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--split", default="validation")

    sp = cmd("diff", "Base model vs tuned model of a run, or two runs' evaluations (A vs B), per label and metric, "
             "with deltas.", "browse", "diff")
    sp.add_argument("runs", nargs="+", metavar="RUN", help="one run (base vs tuned) or two (A vs B): run id, unique "
                    "prefix or suffix, or 'last'")
    sp.add_argument("--split", default="validation")
    sp.add_argument("--metrics", default="precision,recall,f1", help="comma-separated per-label metrics")

    sp = cmd("compare", "Runs side by side: the params that differ, what each cost (parameters, time, memory, "
             "size on disk), and their metrics; a group's mean ± std.", "browse", "compare")
    sp.add_argument("runs", nargs="*", help="two or more run ids / prefixes")
    sp.add_argument("--group", help="compare every run of this group (seed sweep, methods comparison)")
    sp.add_argument("--split", default="validation")
    sp.add_argument("--metric", default="f1", help="per-label metric to put side by side (default f1)")

    sp = cmd("query", "Run SQL on the store (read-only). Tables: runs, params, steps, evals, telemetry, "
             "artifacts, logs, fairness, confusion, tags, notes; views: run_summary, label_metrics, base_vs_tuned.",
             "browse", "query")
    sp.add_argument("sql")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sp = cmd("predict", "Predict a file with a finished run's model; writes JSONL.", "predict")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--input", required=True, help="classification: CSV with the recipe's text column (label columns "
                    "optional: if present, metrics are printed); chat: JSONL, each record ending with the assistant's answer "
                    "(scored) or the user's turn (to label); NER: CoNLL with tags (scored) or tokens only")
    sp.add_argument("--output", required=True, help="JSONL to write, one prediction per input row")
    sp.add_argument("--batch-size", type=int, default=None)
    sp.add_argument("--text-column", metavar="NAME", help="the input's text column, when it is not the training data's")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.KEY=VALUE",
                    help="how the input is read, when it differs from the training data: data.text_column, "
                    "data.text_template, data.id_column, data.format, data.label_* (repeatable)")

    sp = cmd("eval", "Evaluate a model without training it: a finished run's adapter or model, or any model source "
             "(hub id, local or merged folder), on a recipe's data; recorded as a run of kind eval.", "evaluate")
    sp.add_argument("model", help="a run id / unique prefix / 'last' (or run:ID), or a model source: hub id, folder, "
                    "tiny:<arch>")
    sp.add_argument("recipe", nargs="?", help="the recipe whose data (validation and test splits) to score on; "
                    "default for a run: its own recipe")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a recipe value (repeatable), e.g. --set data.test_file=new.csv")
    sp.add_argument("--name", help="name of the evaluation run (default: the recipe's name + '-eval')")
    sp.add_argument("--quiet", action="store_true", help="no live progress; print the result only")

    sp = cmd("export", "Export a finished run as a folder usable without workbench: the adapter (or model) with its "
             "tokenizer, labels.json, metrics.json, recipe.toml and a model card saying how to load it.", "export")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--output", required=True, help="folder to write (must not exist, or be empty)")
    sp.add_argument("--merged", action="store_true", help="merge the LoRA adapter into its base (as `merge` does): "
                    "a folder plain transformers loads without peft")
    sp.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                    help="weights' dtype of a merged or full model (auto: as saved; fp32 for tiny models)")
    sp.add_argument("--format", choices=("folder", "sagemaker"), default="folder",
                    help="folder: the files in DIR (default); sagemaker: DIR/model.tar.gz for a SageMaker endpoint "
                    "(the model merged, code/inference.py, code/requirements.txt; the card beside it)")

    sp = cmd("export-mlflow", "Send finished runs to MLflow: the recipe as params, step metrics, every base and tuned "
             "evaluation per label, fairness rows, the adapter, reports and prediction files. A run already there "
             "(tagged workbench.run_id) is skipped.", "export_mlflow")
    sp.add_argument("runs", nargs="+", metavar="RUN", help="run ids (unique prefix or suffix, 'last')")
    sp.add_argument("--tracking-uri", help="where to (default: the run's train.mlflow_tracking_uri, else "
                    "$MLFLOW_TRACKING_URI, else runs/mlflow.db beside the run folders)")
    sp.add_argument("--experiment", help="MLflow experiment (default: the run's train.mlflow_experiment, else "
                    "$MLFLOW_EXPERIMENT_NAME, else the recipe's name)")
    sp.add_argument("--again", action="store_true", help="send a run again as a new MLflow run even if one is there")

    sp = cmd("merge", "Merge a LoRA run's adapter into its base model: a folder plain transformers loads "
             "without peft.", "merge")
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--output", required=True, help="folder to write (must not exist, or be empty)")
    sp.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                    help="weights' dtype (auto: the base model's own, fp32 for tiny models)")

    sp = cmd("tag", "Tag runs: KEY=VALUE (KEY= removes it); `runs --tag KEY=VALUE` lists them.", "lifecycle", "tag")
    sp.add_argument("items", nargs="+", metavar="RUN|KEY=VALUE", help="run ids (unique prefix or suffix, 'last'), "
                    "then the tags, e.g. `workbench tag last baseline=yes dataset=v2`")

    sp = cmd("note", "Add a note to a run (shown by `show` and the app's detail).", "lifecycle", "note")
    sp.add_argument("run", help="run id, unique prefix or suffix, or 'last'")
    sp.add_argument("text", nargs="+", help="the note")

    sp = cmd("archive", "Hide runs from the lists (`runs --all` shows them); --undo brings them back.", "lifecycle",
             "archive")
    sp.add_argument("runs", nargs="+", metavar="RUN")
    sp.add_argument("--undo", action="store_true", help="unarchive")

    sp = cmd("rm", "Delete runs: their store rows, their folders moved to the trash runs/.trash/ (asks first; not "
             "a run still going); --undo restores.", "lifecycle", "rm")
    sp.add_argument("runs", nargs="+", metavar="RUN")
    sp.add_argument("--keep-folder", action="store_true", help="delete the store rows only; `workbench sync` "
                    "brings the run back from its folder")
    sp.add_argument("--undo", action="store_true", help="restore deleted runs from the trash (RUN: an id, a unique "
                    "prefix or suffix of one there): the folder back where it was, its rows ingested again")
    sp.add_argument("--yes", "-y", action="store_true", help="do not ask")

    sp = cmd("gc", "Delete the checkpoints of completed runs (adapters, models, reports and predictions stay); "
             "prints the bytes freed.", "lifecycle", "gc")
    sp.add_argument("--dry-run", action="store_true", help="say what would be freed; delete nothing")
    sp.add_argument("--trash", action="store_true", help="empty the trash instead: the folders of deleted runs "
                    "(`workbench rm`), no longer restorable")

    sp = cmd("validate", "Check recipes (schema, data files, model source) without running them.", "validate")
    sp.add_argument("recipes", nargs="+", help="recipe .toml files, or shipped recipes' names")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")

    sp = cmd("data", "Look at a recipe's data before training: per split, rows, label distribution, token lengths "
             "(with the recipe's tokenizer; rows model.max_length truncates), duplicate texts and train leakage.", "data")
    sp.add_argument("recipe", help="recipe .toml file, or a shipped recipe's name (e.g. demo/encoder_multilabel)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a recipe value (repeatable), e.g. --set data.validation_fraction=0.1")
    sp.add_argument("--json", action="store_true", help="print the profile as one JSON object")

    cmd("sync", "Rebuild / refresh the store from the run folders; settle runs whose process is gone.", "sync")

    sp = cmd("schema", "Print the recipe reference (every knob: type, range, default, help).", "validate", "schema")
    sp.add_argument("--markdown", action="store_true")
    return p


def _launch_flags(sp: argparse.ArgumentParser) -> None:
    """Every [launch] knob as a flag (--target, --gpus, --partition, ...), from the one schema."""
    from workbench.recipe.schema import knobs_in

    group = sp.add_argument_group("launch (override the recipe's [launch] section)")
    for knob in knobs_in("launch"):
        metavar = {"int": "N", "float": "SECONDS", "str_list": "A,B"}.get(knob.kind, knob.key.upper())
        group.add_argument(f"--{knob.key.replace('_', '-')}", dest=f"launch_{knob.key}", metavar=metavar,
                           default=None, help=knob.help.replace("%", "%%"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _open_app(args)
    module = importlib.import_module(f"workbench.commands.{args._module}")
    try:
        return int(getattr(module, args._func)(args) or 0)
    except UserError as e:
        for line in e.lines:  # one line, but a query's error keeps DuckDB's hints and caret
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: the reader left; that is not an error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - a bug: exit 1, never passed off as the user's bad input
        cause = environment_fault(e)  # a full disk, a read-only folder: the machine's (errors.py), not a bug
        if cause is not None:
            print(f"error: {cause}", file=sys.stderr)
            return 2
        import traceback

        where = next((n for n in getattr(e, "__notes__", []) if n.startswith("traceback in ")), "")
        print(f"error: a bug in workbench: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
              + (f" ({where})" if where else "") + ("" if args.debug or not where else "; --debug prints it here"),
              file=sys.stderr)
        if args.debug or not where:  # no run log holds it: the traceback goes here
            traceback.print_exc()
        return 1


def _open_app(args) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("error: the workbench app needs a terminal (stdin and stdout are not one here, e.g. in a batch "
              "job); the same work is done by the commands: see `workbench --help`", file=sys.stderr)
        return 2
    app = importlib.import_module("workbench.tui.app")
    return int(app.run_app(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
