"""`workbench errors`: what a run's model got wrong on a split, from its prediction files
(workbench.actions.errors)."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import RUN_HELP, Subparsers, command, store_of

SORT_RULE = ("Sorted by how confident the mistake was, highest first: the score of the wrong class or label "
             "predicted, or 1 - the score of a gold label missed, whichever is higher; rows without scores (generated "
             "answers: NER, chat classification without fairness probabilities) after those, the most entities or "
             "labels missed and added first.")


def register(sub: Subparsers) -> None:
    sp = command(sub, "errors", "What a run's tuned model got wrong on a split, most confident mistake first.", _errors)
    sp.description = ("What a run's tuned model got wrong on a split, from its prediction files: text, gold, "
                      "prediction, scores; multi-label and NER: what it missed and added; chat and NER: the answer. "
                      + SORT_RULE)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--split", default="validation", help="validation (default) or test")
    sp.add_argument("--label", metavar="L", help="only mistakes involving this label: single-label and chat, the gold "
                    "or the predicted class; multi-label, a label missed or added; NER, an entity type missed or added")
    sp.add_argument("--limit", type=int, default=50, help="at most N rows (default 50; 0: all)")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")
    which = sp.add_mutually_exclusive_group()
    which.add_argument("--fixed", dest="which", action="store_const", const="fixed", default="wrong",
                       help="what tuning fixed: the base model's mistakes the tuned model got right (the base's "
                       "predictions shown)")
    which.add_argument("--broken", dest="which", action="store_const", const="broken",
                       help="what tuning broke: the tuned model's mistakes the base model got right")


def _errors(args: argparse.Namespace) -> int:
    from workbench.actions.errors import list_errors
    from workbench.console import console, emit_rows
    from workbench.tasks.mistakes import COLUMNS, record

    found = list_errors(store_of(args), args.run, split=args.split, which=args.which, label=args.label,
                        limit=args.limit)
    if args.format != "table":
        emit_rows(COLUMNS, [tuple(record(m, flat=args.format == "csv").values()) for m in found.rows], args.format)
        return 0
    what = {"wrong": "mistakes of the tuned model", "fixed": "mistakes of the base model that tuning fixed",
            "broken": "mistakes of the tuned model where the base model was right"}[found.which]
    label = f" involving {args.label}" if args.label else ""
    title = (f"{found.run_id} · {found.split}: {found.matched} {what}{label} of {found.examples} examples"
             + (f" (the {len(found.rows)} most confident shown; --limit 0 shows all)" if len(found.rows) < found.matched
                else ""))
    if not found.rows:
        console.print(title)
        return 0
    console.print(mistakes_table(found.rows, title))
    return 0


def mistakes_table(rows, title: str):
    """The mistakes as a rich table of the columns in use: texts and answers cut at 110 characters; the
    missed and added labels with their scores (then no scores column)."""
    from rich.table import Table

    from workbench.tasks.mistakes import columns_in_use, record

    columns = [c for c in columns_in_use(rows) if c != "scores" or not any(m.missed or m.added for m in rows)]
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c, overflow="fold", max_width=48 if c in ("text", "answer") else None,
                         justify="right" if c in ("line", "confidence") else "left")
    for m in rows:
        values = record(m)
        if m.missed or m.added:  # the missed and added labels with their scores: the scores column is theirs
            values["missed"], values["added"] = (", ".join(_scored(n, m.scores) for n in names)
                                                 for names in (m.missed, m.added))
        table.add_row(*(_cell(c, values[c]) for c in columns))
    return table


def _scored(name: str, scores: dict[str, float]) -> str:
    return f"{name} {scores[name]:.3f}" if name in scores else name


def _cell(column: str, value) -> str:
    if value is None or value == "":
        return "—"
    if column == "confidence":
        return f"{value:.3f}"
    if column in ("text", "answer"):
        text = " ".join(str(value).split())
        return text if len(text) <= 110 else text[:109] + "…"
    return str(value)
