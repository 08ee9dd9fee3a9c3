"""`workbench curves`: several runs' training or epoch-evaluation curves overlaid in the terminal
(plotext), or their numbers as CSV (workbench/actions/curves.py reads them)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import TYPE_CHECKING

from workbench.cli.parsing import Subparsers, command, store_of
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.actions.curves import Curves

# Without colour (not a terminal, NO_COLOR) each run gets a marker of its own, so the lines stay apart.
MARKERS = ("•", "+", "x", "o", "*", "#", "%", "@", "=", "~")
MIN_WIDTH, MIN_HEIGHT = 30, 8


def register(sub: Subparsers) -> None:
    sp = command(sub, "curves", "Runs' training curves (loss, lr, grad_norm, samples_per_s, ...) or epoch-evaluation "
                 "curves (eval:METRIC) overlaid in the terminal, one line per run over step; --format csv for the "
                 "numbers.", _curves)
    sp.add_argument("runs", nargs="+", metavar="RUN", help="run ids, unique prefixes or suffixes, or 'last'")
    sp.add_argument("--metric", default="loss", help="a steps column (loss, lr, grad_norm, samples_per_s, "
                    "tokens_per_s) or eval:METRIC, an aggregate of the epoch evaluations (eval:f1_micro, "
                    "eval:loss, ...); default loss")
    sp.add_argument("--split", default="validation", help="the split of eval:METRIC (default validation)")
    sp.add_argument("--format", choices=("plot", "csv"), default="plot",
                    help="plot: drawn in the terminal; csv: run_id, step, metric, value")
    sp.add_argument("--width", type=int, metavar="W", help="plot width in columns (default: the terminal's)")
    sp.add_argument("--height", type=int, metavar="H", help="plot height in lines (default: the terminal's, at most 30)")


def _curves(args: argparse.Namespace) -> int:
    from workbench.actions.curves import curves

    size = _plot_size(args.width, args.height) if args.format == "plot" else (0, 0)
    found = curves(store_of(args), args.runs, args.metric, args.split)
    if args.format == "csv":
        from workbench.console import emit_rows

        emit_rows(("run_id", "step", "metric", "value"),
                  [(c.run_id, step, found.metric, value) for c in found.curves for step, value in c.points], "csv")
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(plot(found, *size, colour=colour))
    for rid in found.missing:
        print(f"note: run {rid} has no {found.metric}"
              + (f" on the {found.split} split" if found.metric.startswith("eval:") else ""), file=sys.stderr)
    return 0


def _plot_size(width: int | None, height: int | None) -> tuple[int, int]:
    term = shutil.get_terminal_size()
    w = term.columns if width is None else width
    h = max(MIN_HEIGHT, min(term.lines - 1, 30)) if height is None else height
    if w < MIN_WIDTH:
        raise UserError(f"--width {w}: expected at least {MIN_WIDTH} columns")
    if h < MIN_HEIGHT:
        raise UserError(f"--height {h}: expected at least {MIN_HEIGHT} lines")
    return w, h


def plot(found: Curves, width: int, height: int, *, colour: bool) -> str:
    """The curves drawn by plotext: one line per run, its short name in the legend, x = step."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    if not colour:
        plt.theme("clear")
    for i, c in enumerate(found.curves):
        if c.points:
            plt.plot([s for s, _ in c.points], [v for _, v in c.points], label=c.name,
                     marker="braille" if colour else MARKERS[i % len(MARKERS)])
    plt.title(found.metric + (f" ({found.split})" if found.metric.startswith("eval:") else ""))
    plt.xlabel("step")
    text = plt.build()
    return text if colour else plt.uncolorize(text)
