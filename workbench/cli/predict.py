"""`workbench predict`: a finished run's model on a file."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


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
    from workbench.commands.predict import main

    return int(main(args) or 0)
