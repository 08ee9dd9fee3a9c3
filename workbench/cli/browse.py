"""`workbench runs`, `show`, `diff`, `compare`, `query`: read the store."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "runs", "List runs from the store (archived runs only with --all).", _runs)
    sp.add_argument("--status", help="only runs with this status (queued, running, completed, failed, interrupted, "
                    "cancelled)")
    sp.add_argument("--tag", action="append", metavar="KEY[=VALUE]", help="only runs with this tag (repeatable)")
    sp.add_argument("--all", action="store_true", help="archived runs too")
    sp.add_argument("--recipe", help="only runs of this recipe name")
    sp.add_argument("--limit", type=int, default=50, help="most recent N runs (default 50; 0: all)")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sp = command(sub, "show", "A run: recipe, status, timings, parameter counts, per-label metrics.", _show)
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--split", default="validation")

    sp = command(sub, "diff", "Base model vs tuned model of a run, or two runs' evaluations (A vs B), per label and metric, "
                 "with deltas.", _diff)
    sp.add_argument("runs", nargs="+", metavar="RUN", help="one run (base vs tuned) or two (A vs B): run id, unique "
                    "prefix or suffix, or 'last'")
    sp.add_argument("--split", default="validation")
    sp.add_argument("--metrics", default="precision,recall,f1", help="comma-separated per-label metrics")

    sp = command(sub, "compare", "Runs side by side: the params that differ, what each cost (parameters, time, memory, "
                 "size on disk), and their metrics; a group's mean ± std.", _compare)
    sp.add_argument("runs", nargs="*", help="two or more run ids / prefixes")
    sp.add_argument("--group", help="compare every run of this group (seed sweep, methods comparison)")
    sp.add_argument("--split", default="validation")
    sp.add_argument("--metric", default="f1", help="per-label metric to put side by side (default f1)")

    sp = command(sub, "query", "Run SQL on the store (read-only). Tables: runs, params, steps, evals, telemetry, "
                 "artifacts, logs, fairness, confusion, tags, notes; views: run_summary, label_metrics, base_vs_tuned.", _query)
    sp.add_argument("sql")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _runs(args: argparse.Namespace) -> int:
    from workbench.commands.browse import runs

    return int(runs(args) or 0)


def _show(args: argparse.Namespace) -> int:
    from workbench.commands.browse import show

    return int(show(args) or 0)


def _diff(args: argparse.Namespace) -> int:
    from workbench.commands.browse import diff

    return int(diff(args) or 0)


def _compare(args: argparse.Namespace) -> int:
    from workbench.commands.browse import compare

    return int(compare(args) or 0)


def _query(args: argparse.Namespace) -> int:
    from workbench.commands.browse import query

    return int(query(args) or 0)
