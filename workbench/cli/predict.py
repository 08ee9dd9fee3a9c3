"""`workbench predict`: a finished run's model on a file, stdin or typed texts (workbench.actions.predict)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.parsing import RUN_HELP, Subparsers, command, set_flag, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "predict", "Predict a file (writes JSONL) or typed texts (prints them) with a finished run's "
                 "model.", _predict)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--text", dest="texts", action="append", default=[], metavar="TEXT",
                    help="a text to predict (repeatable), read as the task reads its input (classification: the "
                    "text; chat: a user message; NER: a sentence); printed unless --output is given")
    sp.add_argument("--input", help="the file to predict (- reads it from stdin, in the run's data format); classification: "
                    "CSV with the recipe's text column (label columns "
                    "optional: if present, metrics are printed); chat: JSONL, each record ending with the assistant's answer "
                    "(scored) or the user's turn (to label); NER: CoNLL with tags (scored) or tokens only")
    sp.add_argument("--output", help="JSONL to write, one prediction per input row; - writes it to stdout (needed "
                    "with --input)")
    sp.add_argument("--format", choices=("table", "json"), default="table", help="--text without --output: a table, "
                    "or the JSON lines")
    sp.add_argument("--batch-size", type=int, default=None)
    sp.add_argument("--text-column", metavar="NAME", help="the input's text column, when it is not the training data's")
    set_flag(sp, metavar="data.KEY=VALUE", help="how the input is read, when it differs from the training data: "
             "data.text_column, data.text_template, data.id_column, data.format, data.label_* (repeatable)")


def _predict(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console

    from workbench.actions.predict import STDIN, predict
    from workbench.errors import UserError
    from workbench.wording import fmt

    if args.output is None and not args.texts:
        raise UserError("predict --input: give --output JSONL (or --output - for stdout)")
    to_stdout = args.output is None or args.output == STDIN
    stdin_text = sys.stdin.read() if args.input == STDIN else None
    done = predict(store_of(args), args.run, Path(args.input) if args.input not in (None, STDIN) else None,
                   None if to_stdout else Path(args.output), batch_size=args.batch_size, overrides=args.overrides,
                   text_column=args.text_column, texts=args.texts, stdin_text=stdin_text)
    # what is said beside the predictions goes to stderr when they go to stdout
    console = Console(highlight=False, stderr=to_stdout)
    if done.lines is None:
        console.print(f"wrote {done.rows} predictions to {done.output}")
    elif args.output == STDIN or args.format == "json":
        sys.stdout.write("".join(line + "\n" for line in done.lines))
    else:
        _print_table(done.lines)
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


def _print_table(lines: tuple[str, ...]) -> None:
    """One row per prediction: the text as the model read it, what it predicted (a chat's answer too), and
    the highest scores where the task gives scores."""
    import json

    from rich.table import Table

    from workbench.console import console
    from workbench.wording import fmt

    rows = [json.loads(line) for line in lines]
    answers = any("answer" in r for r in rows)
    scored = any(isinstance(r.get("scores"), dict) for r in rows)
    table = Table(title_justify="left")
    for column in ("text", "predicted", *(("answer",) if answers else ()), *(("scores",) if scored else ())):
        table.add_column(column, overflow="fold")
    for r in rows:
        cells = [next((str(r[k]) for k in ("text", "input", "sentence") if k in r), ""), _predicted(r.get("predicted"))]
        if answers:
            cells.append(str(r.get("answer", "")))
        if scored:
            top = sorted((r.get("scores") or {}).items(), key=lambda kv: -kv[1])[:3]
            cells.append("  ".join(f"{k} {fmt(v)}" for k, v in top))
        table.add_row(*cells)
    console.print(table)


def _predicted(value: object) -> str:
    """A prediction in words: a class, labels, entities by type (TYPE: a, b); — for none."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return "—" if value is None else str(value)
