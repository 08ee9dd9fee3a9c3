"""`workbench predict`: a finished run's model on a file (workbench.actions.predict)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.parsing import Subparsers, command, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "predict", "Predict a file with a finished run's model; writes JSONL.", _predict)
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


def _predict(args: argparse.Namespace) -> int:
    from workbench.actions.predict import predict
    from workbench.console import console
    from workbench.wording import fmt

    done = predict(store_of(args), args.run, Path(args.input), Path(args.output), batch_size=args.batch_size,
                   overrides=args.overrides, text_column=args.text_column)
    console.print(f"wrote {done.rows} predictions to {done.output}")
    if done.counts is not None:  # generative, unlabelled input
        console.print("input has no answers to score; " + ", ".join(
            f"{m} {int(done.counts[m])}" for m in ("unparseable", "malformed", "invented") if m in done.counts)
            + " of the generated ones")
    if done.aggregates is not None:
        agg = done.aggregates
        console.print("input has labels: " + "  ".join(
            f"{m} {fmt(agg[m])}" for m in ("f1_micro", "f1_macro", "accuracy", "exact_match", "loss", "unparseable",
                                           "malformed", "invented") if m in agg))
    return 0
