"""`workbench` command line: one module per subcommand (MODULES) declares its arguments and renders what
workbench.actions returns; this one parses, dispatches and turns errors into one line and an exit status.

Imports stay lazy: `workbench --help` loads neither torch nor transformers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from workbench import __version__
from workbench.cli.parsing import Parser
from workbench.errors import UserError, environment_fault

# The subcommand modules, in the order `workbench --help` lists their commands. Each declares its own
# arguments (register) and renders its results; the work is done by workbench.actions.
MODULES = ("init", "run", "jobs", "browse", "curves", "errors", "predict", "evaluate", "export", "merge", "lifecycle", "validate",
           "data", "sync", "tune", "serve")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="workbench", description="Terminal workbench for LoRA / QLoRA fine-tuning. "
               "With no command, opens the Textual app.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--store", metavar="PATH", help="run store (default: $WORKBENCH_STORE or ./runs.duckdb; "
                   "run folders go to runs/ beside it)")
    p.add_argument("--debug", action="store_true", help="print a bug's traceback (it is also in the run's log)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in MODULES:
        importlib.import_module(f"workbench.cli.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _open_app(args)
    try:
        return int(args._handler(args) or 0)
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
