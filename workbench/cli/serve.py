"""`workbench serve`: the app in a browser tab, for its user alone (workbench/tui/web/, loaded here by name:
the CLI never imports the app)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from workbench.cli.parsing import Subparsers, command, store_of
from workbench.errors import UserError


def register(sub: Subparsers) -> None:
    sp = command(sub, "serve", "The app in a browser tab (textual-serve), behind a secret token in the URL it prints; "
                 "from a laptop: ssh -L PORT:localhost:PORT HOST, then open that URL.", _serve)
    sp.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: a free one)")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine "
                    "only; another one is warned about)")


def _serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: expected a port number from 0 to 65535 (0: a free one)")
    if importlib.util.find_spec("textual_serve") is None:
        raise UserError("workbench serve needs textual-serve, which is not installed: pip install 'workbench[serve]'")
    web = importlib.import_module("workbench.tui.web.server")
    if not web.is_loopback(args.host):
        print(f"warning: --host {args.host}: anyone who can reach this machine can connect to the port (the token "
              "still keeps them out, but it travels unencrypted: prefer 127.0.0.1 and ssh -L)", file=sys.stderr)
    web.serve(store_of(args), args.host, args.port, on_open=lambda url: print(f"open: {url}", flush=True))
    return 0
